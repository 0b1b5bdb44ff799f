"""End-to-end tests of the command-line programs, each in a subprocess."""

import glob
import os
import re
import shutil
import tempfile

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from r_lstm import configs, import_arrays, train_lib
from tests import testing


# TensorFlow's start-up notices. Which of them a machine prints depends on
# its CPU: oneDNN's is printed only where TensorFlow turns oneDNN on
# (AVX-512 machines), the CPU feature guard's on every x86 machine.
STARTUP_NOTICES = ('absl::InitializeLog|oneDNN custom operations|'
                   'cpu_feature_guard')


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
            *testing.TINY_FLAGS]
    first = testing.run_module('r_lstm.train', *args, '--train_steps=4')
    self.assertSucceeded(first)
    self.assertIn('Final test accuracy of npz:', first.stdout)
    self.assertIn('after 4 updates', first.stdout)
    self.assertNotIn('Sharding callback duration', first.stderr)
    # TensorFlow's start-up notices are dropped (r_lstm.startup).
    self.assertNotRegex(first.stderr, STARTUP_NOTICES)
    # No error-level log line either (oneDNN's integer-transpose fallback
    # was one: anchored.time_major).
    self.assertNotRegex(first.stderr, r'(?m)^E\d{4} ')
    self.assertTrue(glob.glob(os.path.join(self.workdir, 'events.out.*')))
    self.assertTrue(os.path.isfile(
        os.path.join(self.workdir, 'checkpoints', 'ckpt-4.index')))
    for name in ('config.json', 'metrics.jsonl'):
      self.assertTrue(os.path.isfile(os.path.join(self.workdir, name)))

    second = testing.run_module('r_lstm.train', *args, '--train_steps=6')
    self.assertSucceeded(second)
    self.assertRegex(second.stdout, r'Resumed from .*ckpt-4 at step 4\.')
    self.assertIn('after 6 updates', second.stdout)

    # The workdir alone: the saved config is the base, flags still apply.
    third = testing.run_module('r_lstm.train', f'--workdir={self.workdir}',
                               '--train_steps=8')
    self.assertSucceeded(third)
    self.assertRegex(third.stdout, r'Resumed from .*ckpt-6 at step 6\.')
    self.assertIn('after 8 updates', third.stdout)

    # With TensorFlow's C++ INFO lines on, it prints its notices (the CPU
    # feature guard's at least); r_lstm drops them unless --verbosity is set.
    all_logs = {'TF_CPP_MIN_LOG_LEVEL': '0'}
    scored = testing.run_module('r_lstm.evaluate', f'--workdir={self.workdir}',
                                env=all_logs)
    self.assertSucceeded(scored)
    self.assertNotRegex(scored.stderr, STARTUP_NOTICES)
    verbose = testing.run_module('r_lstm.evaluate', f'--workdir={self.workdir}',
                                 '--verbosity=0', env=all_logs)
    self.assertSucceeded(verbose)
    self.assertRegex(verbose.stderr, STARTUP_NOTICES)
    self.assertRegex(scored.stdout,
                     r'step 8: test accuracy [01]\.\d{4} loss .* over 10 '
                     r'examples')


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
      ('cifar10', 'cifar10', ['--image_size=4', '--auxiliary=reconstruction',
                              '--aux_length=6'], 5),
      ('tfds_name', 'tfds:cifar10', ['--image_size=3', '--grayscale'], 5),
      ('dbpedia', 'dbpedia', ['--max_length=12', '--auxiliary=prediction',
                              '--aux_length=4'], 2),
      ('textcsv', 'textcsv:{text_dir}', [], 2))
  def test_trains_and_evaluates(self, dataset, flags, num_test):
    workdir = os.path.join(self.create_tempdir().full_path, 'run')
    data_dir = self.text_dir if dataset == 'dbpedia' else self.tfds_dir
    result = testing.run_module('r_lstm.train', f'--workdir={workdir}',
                 f'--dataset={dataset.format(text_dir=self.text_dir)}',
                 f'--data_dir={data_dir}', *testing.TINY_FLAGS, '--train_steps=2',
                 '--decoder_units=6', '--decoder_head_units=6', *flags)
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    self.assertIn('after 2 updates: ', result.stdout)
    self.assertIn(f'({num_test} examples)', result.stdout)
    recorded = os.path.join(workdir, 'permutation.npy')
    self.assertEqual(os.path.isfile(recorded), dataset == 'pmnist')

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.tmp)
    super().tearDownClass()

  def test_stanford_dogs_mocked(self):
    config = configs.Config(
        dataset='stanford_dogs', image_size=4, batch_size=4, embed_dim=4,
        lstm_units=8, head_units=(8,), bptt=3, train_steps=2,
        steps_per_loop=2, eval_every=2, checkpoint_every=2)
    with tfds.testing.mock_data(num_examples=6):
      results = train_lib.train_and_evaluate(
          config, os.path.join(self.create_tempdir().full_path, 'run'))
    self.assertEqual(results['examples'], 6)


class FlagMistakesTest(tf.test.TestCase, parameterized.TestCase):
  """Flag mistakes end like every other input mistake (one line, exit 2),
  and help lists the project's flags first with the values the command
  line would run with."""

  @parameterized.named_parameters(
      ('unknown_flag', 'r_lstm.train', ['--train_step=3'],
       "Unknown command line flag 'train_step'. Did you mean: train_steps"),
      ('not_an_integer', 'r_lstm.train', ['--train_steps=abc'],
       'flag --train_steps=abc'),
      ('unknown_flag_of_another_tool', 'r_lstm.evaluate', ['--workdirr=x'],
       "Unknown command line flag 'workdirr'"),
      ('near_choice', 'r_lstm.train', ['--workdir=never_made',
                                       '--backbone=lstn'],
       'did you mean lstm?'),
      ('near_preset', 'r_lstm.train', ['--workdir=never_made',
                                       '--preset=mnist_r_lstm_t30'],
       'did you mean mnist_r_lstm_t300'),
  )
  def test_one_line_and_exit_2(self, module, args, message):
    result = testing.run_module(module, *args)
    self.assertEqual(result.returncode, 2, msg=result.stderr)
    lines = result.stderr.strip().splitlines()
    self.assertLen(lines, 1, msg=result.stderr)
    self.assertStartsWith(lines[0], f'{module}: error: ')
    self.assertIn(message, lines[0])
    self.assertFalse(os.path.exists(os.path.join(testing.REPO, 'never_made')))

  def test_help_shows_the_chosen_presets_values_first(self):
    result = testing.run_module('r_lstm.train', '--preset=demo', '--bptt=7',
                                '--helpfull')
    self.assertEqual(result.returncode, 0, msg=result.stderr)
    text = result.stdout
    self.assertStartsWith(text, 'r_lstm.train:\n')
    self.assertIn('(preset demo;', text)
    others = text.index('Flags of absl, TensorFlow and TFDS:')
    for setting in ('--dataset=mnist5k', '--bptt=7', '--backbone=lstm'):
      self.assertLess(text.index(f'  {setting}\n'), others)
    self.assertGreater(text.find('logtostderr'), others)
    self.assertGreater(text.find('tensorflow_datasets.core'), others)

  @parameterized.named_parameters(
      ('config', ['--bptt=-1'], '--bptt must be >= 0', False),
      ('workdir', ['--workdir=/proc/r_lstm_run'], 'cannot write in /proc',
       False),
      # The control: a dataset is checked once TensorFlow is there.
      ('dataset', ['--dataset=mnst'], "unknown dataset 'mnst'", True),
      # A URL workdir is read through TensorFlow, imported without its
      # start-up notices although TensorFlow's INFO lines are on.
      ('url_workdir', ['--workdir=ram://bucket/run', '--bptt=-1'],
       '--bptt must be >= 0', True),
  )
  def test_mistakes_before_the_model_need_no_tensorflow(
      self, args, message, imports_tensorflow):
    """`python -X importtime` lists every module the program imported."""
    result = testing.run_module(
        'r_lstm.train', '--workdir=never_made', *args,
        env={'PYTHONPROFILEIMPORTTIME': '1', 'TF_CPP_MIN_LOG_LEVEL': '0'})
    self.assertEqual(result.returncode, 2, msg=result.stderr[-3000:])
    lines = [line for line in result.stderr.splitlines()
             if not line.startswith('import time:')]
    self.assertLen(lines, 1, msg=result.stderr[-3000:])
    self.assertStartsWith(lines[0], 'r_lstm.train: error: ')
    self.assertIn(message, lines[0])
    self.assertEqual(
        bool(re.search(r'(?m)^import time:.*\| +tensorflow(\.|$)',
                       result.stderr)),
        imports_tensorflow)
    self.assertFalse(os.path.exists(os.path.join(testing.REPO, 'never_made')))

  def test_short_help_leaves_out_the_other_modules(self):
    result = testing.run_module('r_lstm.train', '--help')
    self.assertEqual(result.returncode, 0, msg=result.stderr)
    self.assertIn('(preset default;', result.stdout)
    self.assertIn('  --bptt=300\n', result.stdout)
    self.assertNotIn('Flags of absl', result.stdout)


if __name__ == '__main__':
  tf.test.main()
