"""The package as a user installs it: a wheel built from the repository,
installed into a clean directory, trains, exports and predicts from
another directory through its console scripts and `python -m`, with every
subpackage inside."""

import csv
import os
import shutil
import subprocess
import sys

import tensorflow as tf

from tests import testing

SCRIPTS = ('train', 'evaluate', 'export', 'predict', 'report',
           'import-arrays', 'decode-images')
TINY_DEMO = ['--preset=demo', '--image_size=4', '--train_steps=2',
             '--batch_size=4', '--embed_dim=4', '--lstm_units=8',
             '--head_units=8', '--steps_per_loop=1', '--eval_every=0',
             '--checkpoint_every=2']


def _run(args, cwd, site):
  """Runs `args` in `cwd` with the installed package alone importable."""
  env = {**os.environ, 'PYTHONPATH': site, 'TF_CPP_MIN_LOG_LEVEL': '2'}
  return subprocess.run(args, cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=600, check=False)


class WheelTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tf.compat.v1.test.get_temp_dir()
    source = os.path.join(cls.root, 'source')
    shutil.copytree(os.path.join(testing.REPO, 'r_lstm'),
                    os.path.join(source, 'r_lstm'),
                    ignore=shutil.ignore_patterns('__pycache__'))
    for name in ('pyproject.toml', 'README.md'):
      shutil.copy(os.path.join(testing.REPO, name), source)
    wheels = os.path.join(cls.root, 'wheels')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--quiet',
                    '--no-deps', '--no-build-isolation', '-w', wheels,
                    source], check=True, capture_output=True)
    (wheel,) = os.listdir(wheels)
    cls.site = os.path.join(cls.root, 'site')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet',
                    '--no-deps', '--target', cls.site,
                    os.path.join(wheels, wheel)], check=True,
                   capture_output=True)
    cls.work = os.path.join(cls.root, 'elsewhere')
    os.makedirs(cls.work)

  def test_every_subpackage_and_script_is_installed(self):
    for path in ('r_lstm/objectives/reconstruction.py',
                 'r_lstm/objectives/prediction.py', 'r_lstm/registry.py',
                 'r_lstm/kernels/lstm_sequence.cc'):
      self.assertTrue(os.path.isfile(os.path.join(self.site, path)), path)
    for script in SCRIPTS:
      self.assertTrue(os.path.isfile(os.path.join(
          self.site, 'bin', f'r-lstm-{script}')), script)

  def test_trains_exports_and_predicts_from_another_directory(self):
    where = _run([sys.executable, '-c',
                  'import r_lstm.models; print(r_lstm.models.__file__)'],
                 self.work, self.site)
    self.assertStartsWith(where.stdout.strip(), self.site)
    train = _run([sys.executable, os.path.join(self.site, 'bin',
                                               'r-lstm-train'),
                  '--workdir=run', *TINY_DEMO], self.work, self.site)
    self.assertEqual(train.returncode, 0, msg=train.stderr[-3000:])
    self.assertIn('after 2 updates', train.stdout)
    export = _run([sys.executable, '-m', 'r_lstm.export', '--workdir=run',
                   '--output=exported'], self.work, self.site)
    self.assertEqual(export.returncode, 0, msg=export.stderr[-3000:])
    predict = _run([sys.executable, os.path.join(self.site, 'bin',
                                                 'r-lstm-predict'),
                    '--model=exported', '--output=predictions.csv'],
                   self.work, self.site)
    self.assertEqual(predict.returncode, 0, msg=predict.stderr[-3000:])
    with open(os.path.join(self.work, 'predictions.csv')) as f:
      rows = list(csv.reader(f))
    self.assertLen(rows, 1 + 1000)  # A header, then mnist5k's validation.


if __name__ == '__main__':
  tf.test.main()
