"""End-to-end tests of the command-line programs, each in a subprocess."""

import glob
import os
import shutil
import subprocess
import sys
import tempfile

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from r_lstm import import_arrays, train_lib
from tests import testing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_FLAGS = ['--batch_size=4', '--embed_dim=4', '--lstm_units=8',
              '--head_units=8', '--bptt=3', '--steps_per_loop=2',
              '--eval_every=2', '--checkpoint_every=2']


def run(module, *args):
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2')
  return subprocess.run([sys.executable, '-m', module, *args], cwd=REPO,
                        env=env, capture_output=True, text=True, timeout=300)


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


class TrainCliTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = self.create_tempdir().full_path
    self.npz = os.path.join(self.tmp, 'tiny.npz')
    testing.write_tiny_npz(self.npz)
    self.workdir = os.path.join(self.tmp, 'run')

  def assertSucceeded(self, result):
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])

  def test_trains_checkpoints_resumes_and_evaluates(self):
    args = [f'--workdir={self.workdir}', f'--dataset=npz:{self.npz}',
            *TINY_FLAGS]
    first = run('r_lstm.train', *args, '--train_steps=4')
    self.assertSucceeded(first)
    self.assertIn('Final test accuracy of npz:', first.stdout)
    self.assertIn('after 4 updates', first.stdout)
    self.assertTrue(glob.glob(os.path.join(self.workdir, 'events.out.*')))
    self.assertTrue(os.path.isfile(
        os.path.join(self.workdir, 'checkpoints', 'ckpt-4.index')))
    for name in ('config.json', 'metrics.jsonl'):
      self.assertTrue(os.path.isfile(os.path.join(self.workdir, name)))

    second = run('r_lstm.train', *args, '--train_steps=6')
    self.assertSucceeded(second)
    self.assertRegex(second.stdout, r'Resumed from .*ckpt-4 at step 4\.')
    self.assertIn('after 6 updates', second.stdout)

    scored = run('r_lstm.evaluate', f'--workdir={self.workdir}')
    self.assertSucceeded(scored)
    self.assertRegex(scored.stdout,
                     r'step 6: test accuracy [01]\.\d{4} loss .* over 10 '
                     r'examples')

  def test_bad_input_fails_in_one_line_and_keeps_the_workdir_unprepared_tfds(
      self):
    empty = os.path.join(self.tmp, 'empty_tfds')
    os.makedirs(empty)
    result = run('r_lstm.train', f'--workdir={self.workdir}',
                 '--dataset=mnist', f'--data_dir={empty}', '--train_steps=2')
    self.assertFailedWith(result, 'r_lstm.train',
                          f'not prepared in {empty}.*never downloads')
    self.assertFalse(os.path.exists(self.workdir))

  @parameterized.named_parameters(
      ('unknown_dataset', ['--dataset=mnst'], "unknown dataset 'mnst'"),
      ('zero_max_length', ['--max_length=0'], '--max_length must be a posit'),
      ('unknown_model', ['--model=gru'], "unknown model 'gru'"),
      ('zero_bptt', ['--bptt=0'], '--bptt must be a positive integer'),
      ('zero_batch', ['--batch_size=0'], '--batch_size must be a positive'),
      ('bad_image_size', ['--image_size=-3'], '--image_size must be a posit'),
      ('bad_head_units', ['--head_units=a,b'], '--head_units takes integers'),
      ('missing_npz', ['--dataset=npz:/no/such.npz'], 'does not exist'),
      ('stray_argument', ['extra'], 'unexpected arguments'),
      ('aux_length_too_long', ['--model=r_lstm', '--aux_length=16'],
       '--aux_length=16 must be shorter than the sequences .* \\(16 steps\\)'),
      ('zero_anchors', ['--model=r_lstm', '--num_anchors=0'],
       '--num_anchors must be a positive integer'),
      ('negative_aux_bptt', ['--model=p_lstm', '--aux_bptt=-1'],
       '--aux_bptt must be >= 0'),
      ('pretrain_without_aux', ['--pretrain_steps=5'],
       '--pretrain_steps needs an auxiliary loss'),
      ('unknown_decoder_init', ['--model=r_lstm', '--decoder_init=zeros'],
       "unknown decoder_init 'zeros'"),
      ('feed_rate_above_one', ['--model=r_lstm', '--decoder_feed_rate=1.5'],
       r'--decoder_feed_rate must be in \[0, 1\]'))
  def test_bad_input_fails_in_one_line_and_keeps_the_workdir(
      self, flags, message):
    os.makedirs(self.workdir)
    with open(os.path.join(self.workdir, 'keep.txt'), 'w') as f:
      f.write('precious')
    before = snapshot(self.workdir)
    result = run('r_lstm.train', f'--workdir={self.workdir}',
                 f'--dataset=npz:{self.npz}', '--train_steps=2', *flags)
    self.assertFailedWith(result, 'r_lstm.train', message)
    self.assertEqual(snapshot(self.workdir), before)

  def test_workdir_that_is_a_file_is_refused(self):
    with open(self.workdir, 'w') as f:
      f.write('not a directory')
    before = snapshot(self.workdir)
    result = run('r_lstm.train', f'--workdir={self.workdir}',
                 f'--dataset=npz:{self.npz}', '--train_steps=2')
    self.assertFailedWith(result, 'r_lstm.train', 'is a file')
    self.assertEqual(snapshot(self.workdir), before)

  def test_evaluate_without_a_run_is_refused(self):
    os.makedirs(self.workdir)
    result = run('r_lstm.evaluate', f'--workdir={self.workdir}')
    self.assertFailedWith(result, 'r_lstm.evaluate', 'holds no run')
    self.assertEqual(os.listdir(self.workdir), [])

  def assertFailedWith(self, result, program, message):
    self.assertEqual(result.returncode, 2, msg=result.stderr[-3000:])
    errors = [line for line in result.stderr.splitlines()
              if line.startswith(f'{program}: error:')]
    self.assertLen(errors, 1, msg=result.stderr[-3000:])
    self.assertRegex(errors[0], message)
    self.assertNotIn('Traceback', result.stderr)


class DatasetsCliTest(tf.test.TestCase, parameterized.TestCase):
  """Every kind of dataset trains a few updates from the command line."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.mkdtemp()
    cls.tfds_dir = os.path.join(cls.tmp, 'tfds')
    rng = np.random.RandomState(0)
    for name, shape in (('mnist', (28, 28)), ('cifar10', (32, 32, 3))):
      npz = os.path.join(cls.tmp, f'{name}.npz')
      np.savez(npz, **{
          f'x_{split}': rng.randint(0, 256, (n, *shape)).astype(np.uint8)
          for split, n in (('train', 8), ('test', 5))},
               y_train=np.arange(8) % 10, y_test=np.arange(5) % 10)
      import_arrays.import_arrays(name, npz, cls.tfds_dir)
    cls.text_dir = os.path.join(cls.tmp, 'dbpedia_csv')
    testing.write_files(cls.text_dir, {
        'train.csv': testing.TRAIN_CSV * 2,
        'test.csv': testing.TEST_CSV,
        'classes.txt': testing.CLASSES})

  @parameterized.named_parameters(
      ('mnist', 'mnist', ['--image_size=4'], 5),
      ('pmnist', 'pmnist', ['--image_size=4'], 5),
      ('cifar10', 'cifar10', ['--image_size=4', '--model=r_lstm',
                              '--aux_length=6'], 5),
      ('tfds_name', 'tfds:cifar10', ['--image_size=3', '--grayscale'], 5),
      ('dbpedia', 'dbpedia', ['--max_length=12', '--model=p_lstm',
                              '--aux_length=4'], 2),
      ('textcsv', 'textcsv:{text_dir}', [], 2))
  def test_trains_and_evaluates(self, dataset, flags, num_test):
    workdir = os.path.join(self.create_tempdir().full_path, 'run')
    data_dir = self.text_dir if dataset == 'dbpedia' else self.tfds_dir
    result = run('r_lstm.train', f'--workdir={workdir}',
                 f'--dataset={dataset.format(text_dir=self.text_dir)}',
                 f'--data_dir={data_dir}', *TINY_FLAGS, '--train_steps=2',
                 '--decoder_units=6', '--decoder_head_units=6', *flags)
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    self.assertIn(f'after 2 updates: ', result.stdout)
    self.assertIn(f'({num_test} examples)', result.stdout)
    recorded = os.path.join(workdir, 'permutation.npy')
    self.assertEqual(os.path.isfile(recorded), dataset == 'pmnist')

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.tmp)
    super().tearDownClass()

  def test_stanford_dogs_mocked(self):
    config = train_lib.configs.Config(
        dataset='stanford_dogs', image_size=4, batch_size=4, embed_dim=4,
        lstm_units=8, head_units=(8,), bptt=3, train_steps=2,
        steps_per_loop=2, eval_every=2, checkpoint_every=2)
    with tfds.testing.mock_data(num_examples=6):
      results = train_lib.train_and_evaluate(
          config, os.path.join(self.create_tempdir().full_path, 'run'))
    self.assertEqual(results['examples'], 6)


if __name__ == '__main__':
  tf.test.main()
