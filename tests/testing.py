"""Tiny datasets and configs shared by the tests."""

import dataclasses
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from r_lstm import cli, configs, input_pipeline

TINY_CONFIG = configs.Config(
    embed_dim=4, lstm_units=8, head_units=(8,), bptt=4, batch_size=4,
    aux_length=4, aux_bptt=3, num_anchors=2, decoder_units=6,
    decoder_head_units=(6,), segment_length=2, memory_tokens=2,
    eval_batch_size=10, train_steps=4, steps_per_loop=2, eval_every=2,
    checkpoint_every=2, learning_rate=1e-2)


def tiny_split(num_examples, length=8, channels=1, seed=0):
  """Sequences whose label is whether their last token is above 127."""
  rng = np.random.RandomState(seed)
  tokens = rng.randint(0, 256, (num_examples, length, channels)).astype(
      np.uint8)
  labels = (tokens[:, -1, 0] > 127).astype(np.int32)
  return input_pipeline.Split(tokens, np.full([num_examples], length, np.int32),
                              labels)


def tiny_data(num_train=32, num_test=37, length=8, channels=1):
  return input_pipeline.SequenceData(
      'tiny', tiny_split(num_train, length, channels, seed=0),
      tiny_split(num_test, length, channels, seed=1), 'test', num_classes=2)


def write_tiny_npz(path, num_train=24, num_test=10, side=4):
  """Keras-layout image arrays; label 1 when the last pixel is bright."""
  rng = np.random.RandomState(0)
  arrays = {}
  for split, n in (('train', num_train), ('test', num_test)):
    images = rng.randint(0, 256, (n, side, side)).astype(np.uint8)
    arrays[f'x_{split}'] = images
    arrays[f'y_{split}'] = (images[:, -1, -1] > 127).astype(np.uint8)
  np.savez(path, **arrays)
  return arrays


# Character-level CSV in the DBpedia layout: quotes, commas and a newline
# inside fields, and non-ASCII text.
TRAIN_CSV = (
    '"1","Title one","Plain content."\n'
    '"3","Comma, inside","He said ""hi"", then left."\n'
    '"2","Zürich","Line one\nline two — ok"\n')
TEST_CSV = '"2","T","c"\n"1","Ab","Cd"\n'
CLASSES = 'Company\nSchool\nArtist\n'


def write_files(directory, files):
  os.makedirs(directory, exist_ok=True)
  for name, text in files.items():
    with open(os.path.join(directory, name), 'w', encoding='utf-8') as f:
      f.write(text)


# Command-line runs -------------------------------------------------------

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_FLAGS = ['--batch_size=4', '--embed_dim=4', '--lstm_units=8',
              '--head_units=8', '--bptt=3', '--steps_per_loop=2',
              '--eval_every=2', '--checkpoint_every=2']


def quiet_environment(**variables):
  """The environment of a Python subprocess that imports this repository's
  r_lstm, with TensorFlow's C++ INFO and WARNING lines off unless
  `variables` turn them on."""
  return {**os.environ, 'PYTHONPATH': REPO, 'TF_CPP_MIN_LOG_LEVEL': '2',
          **variables}


def run_python(*args, env=None):
  """Runs `python args` from the repository, importing its packages (in a
  subprocess: a module that defines absl flags another test module's
  imports define too can be imported there); returns the result. `env`:
  variables to set (`quiet_environment`)."""
  return subprocess.run([sys.executable, *args], cwd=REPO,
                        env=quiet_environment(**(env or {})),
                        capture_output=True, text=True, timeout=300)


def run_module(module, *args, env=None):
  """Runs `python -m module args` from the repository; returns the result."""
  return run_python('-m', module, *args, env=env)


def snapshot(path):
  """Every file below `path` (or `path` itself) with its bytes."""
  if os.path.isfile(path):
    with open(path, 'rb') as f:
      return {path: f.read()}
  files = {}
  for name in glob.glob(os.path.join(path, '**'), recursive=True):
    if os.path.isfile(name):
      with open(name, 'rb') as f:
        files[name] = f.read()
  return files


class TinyRunTestCase(tf.test.TestCase):
  """Holds, for the whole class, a tiny npz (`npz`) and a finished 2-update
  run of it (`run_dir`) to copy, in a temporary `template` directory."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.template = tempfile.mkdtemp()
    cls.npz = os.path.join(cls.template, 'tiny.npz')
    write_tiny_npz(cls.npz)
    cls.run_dir = os.path.join(cls.template, 'run')
    result = run_module(
        'r_lstm.train', f'--workdir={cls.run_dir}', f'--dataset=npz:{cls.npz}',
        *TINY_FLAGS, '--train_steps=2')
    assert result.returncode == 0, result.stderr[-3000:]

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.template)
    super().tearDownClass()

  def assertRefusedUntouched(self, program, workdir, *args):
    """`python -m r_lstm.<program> args` exits 2 with exactly one
    `r_lstm.<program>: error:` line and no traceback, and `workdir` is
    byte for byte as before; returns the error line."""
    return self.assertRefusal(attempt(program, workdir, *args))

  def assertRefusal(self, attempted: 'Attempt'):
    """The checks of `assertRefusedUntouched` on a finished `attempt`."""
    program, result = attempted.program, attempted.result
    self.assertEqual(result.returncode, cli.USAGE_EXIT_CODE,
                     msg=result.stderr[-3000:])
    errors = [line for line in result.stderr.splitlines()
              if line.startswith(f'r_lstm.{program}: error:')]
    self.assertLen(errors, 1, msg=result.stderr[-3000:])
    self.assertNotIn('Traceback', result.stderr)
    self.assertEqual(attempted.after, attempted.before)
    return errors[0]


class TinyExportTestCase(TinyRunTestCase):
  """`TinyRunTestCase` with the run exported by `r_lstm.export` to
  `export_dir` (its stdout: `export_stdout`)."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.export_dir = os.path.join(cls.template, 'export')
    result = run_module('r_lstm.export', f'--workdir={cls.run_dir}',
                        f'--output={cls.export_dir}')
    assert result.returncode == 0, result.stderr[-3000:]
    cls.export_stdout = result.stdout


@dataclasses.dataclass
class Attempt:
  """A command-line run and its workdir's files before and after it."""
  program: str
  result: subprocess.CompletedProcess
  before: dict
  after: dict


def attempt(program, workdir, *args) -> Attempt:
  """Runs `python -m r_lstm.<program> args`, snapshotting `workdir`."""
  before = snapshot(workdir)
  result = run_module(f'r_lstm.{program}', *args)
  return Attempt(program, result, before, snapshot(workdir))
