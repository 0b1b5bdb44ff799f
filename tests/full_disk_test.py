"""The machine's refusal of a write, on a real full filesystem (a small
tmpfs), through the real command line: one line, exit code 5, nothing
half-written, and with space again the run resumes with nothing lost.

Mounting needs root (or CAP_SYS_ADMIN); where the machine does not allow
it, the tests skip and say so."""

import errno
import glob
import os
import subprocess

import tensorflow as tf

from r_lstm import cli
from tests import testing

FLAGS = [*testing.TINY_FLAGS, '--eval_every=2', '--checkpoint_every=2']


class FullDiskTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = self.create_tempdir().full_path
    self.npz = os.path.join(self.tmp, 'tiny.npz')
    testing.write_tiny_npz(self.npz)
    self.disk = os.path.join(self.tmp, 'disk')
    os.makedirs(self.disk)
    mounted = subprocess.run(
        ['mount', '-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', self.disk],
        capture_output=True, text=True, check=False)
    if mounted.returncode:
      self.skipTest(f'this machine does not let a test mount a tmpfs '
                    f'({mounted.stderr.strip()[:200]})')
    self.addCleanup(subprocess.run, ['umount', '-l', self.disk], check=False)
    self.filler = os.path.join(self.disk, 'filler')

  def fill(self):
    """Fills the disk to the last byte."""
    with open(self.filler, 'ab', buffering=0) as f:
      for size in (1 << 20, 1 << 12, 1):
        try:
          while True:
            f.write(b'\0' * size)
        except OSError as error:
          self.assertEqual(error.errno, errno.ENOSPC)

  def free(self):
    os.remove(self.filler)

  def assertRefusedForSpace(self, result, program):
    self.assertEqual(result.returncode, cli.ENVIRONMENT_EXIT_CODE,
                     msg=result.stderr[-3000:])
    lines = result.stderr.strip().splitlines()
    self.assertLen(lines, 1, msg=result.stderr[-3000:])
    self.assertStartsWith(lines[0], f'{program}: error: ')
    self.assertIn('No space left on device', lines[0])
    return lines[0]

  def train(self, workdir, steps):
    return testing.run_module('r_lstm.train', f'--workdir={workdir}',
                              f'--dataset=npz:{self.npz}', *FLAGS,
                              f'--train_steps={steps}')

  def assertFinishesWithSpaceAgain(self, workdir, steps):
    """Frees the disk; the same command then trains to `steps`."""
    self.free()
    result = self.train(workdir, steps)
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    self.assertIn(f'after {steps} updates', result.stdout)

  def test_training_on_a_full_disk_from_the_first_start(self):
    workdir = os.path.join(self.disk, 'run')
    self.fill()
    line = self.assertRefusedForSpace(self.train(workdir, 4), 'r_lstm.train')
    self.assertIn('no checkpoint was saved yet', line)
    self.assertIn(workdir, line)
    self.assertFinishesWithSpaceAgain(workdir, 4)

  def test_a_disk_that_fills_mid_run_keeps_the_last_checkpoint(self):
    workdir = os.path.join(self.disk, 'run')
    self.assertEqual(self.train(workdir, 4).returncode, 0)
    self.fill()
    line = self.assertRefusedForSpace(self.train(workdir, 8), 'r_lstm.train')
    self.assertIn('the newest complete checkpoint is', line)
    self.assertIn(f'{workdir}/checkpoints/ckpt-4', line)
    self.assertFinishesWithSpaceAgain(workdir, 8)

  def test_export_and_predict_onto_a_full_disk(self):
    workdir = os.path.join(self.tmp, 'run')
    self.assertEqual(self.train(workdir, 2).returncode, 0)
    self.fill()
    export = os.path.join(self.disk, 'export')
    self.assertRefusedForSpace(
        testing.run_module('r_lstm.export', f'--workdir={workdir}',
                           f'--output={export}'), 'r_lstm.export')
    self.assertEqual(sorted(os.listdir(self.disk)), ['filler'])
    predictions = os.path.join(self.disk, 'p.csv')
    self.assertRefusedForSpace(
        testing.run_module('r_lstm.predict', f'--model={workdir}',
                           f'--output={predictions}'), 'r_lstm.predict')
    self.assertEqual(glob.glob(os.path.join(self.disk, '*')),
                     [self.filler])


if __name__ == '__main__':
  tf.test.main()
