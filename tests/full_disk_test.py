"""The machine's refusal of a write, on a real full filesystem (a small
tmpfs), through the real command line: one line, exit code 5, nothing
half-written, and with space again the run resumes with nothing lost. Too
little room for the checkpoints, an export or predictions is refused
before anything is written (`r_lstm.disk_space`); a disk that fills while
a run trains is caught at the write.

Mounting needs root (or CAP_SYS_ADMIN); where the machine does not allow
it, the tests skip and say so."""

import errno
import glob
import os
import re
import subprocess
import sys
import time

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

  def fill(self, leave=0):
    """Fills the disk to the last byte, then frees `leave` bytes."""
    with open(self.filler, 'ab', buffering=0) as f:
      for size in (1 << 20, 1 << 12, 1):
        try:
          while True:
            f.write(b'\0' * size)
        except OSError as error:
          self.assertEqual(error.errno, errno.ENOSPC)
      f.truncate(f.tell() - leave)

  def free(self):
    os.remove(self.filler)

  def assertRefusedForSpace(self, result, program,
                            reason='No space left on device'):
    self.assertEqual(result.returncode, cli.ENVIRONMENT_EXIT_CODE,
                     msg=result.stderr[-3000:])
    lines = result.stderr.strip().splitlines()
    self.assertLen(lines, 1, msg=result.stderr[-3000:])
    self.assertStartsWith(lines[0], f'{program}: error: ')
    self.assertIn(reason, lines[0])
    return lines[0]

  def assertRefusedBeforeWriting(self, result, program, what):
    line = self.assertRefusedForSpace(
        result, program, f'not enough free space for {what}')
    self.assertIn('nothing was written', line)
    self.assertEqual(os.listdir(self.disk), ['filler'])
    return line

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

  def test_too_little_room_for_the_checkpoints_is_refused_at_the_start(self):
    # The tiny model's checkpoint is about 19 kB, and a 4-update run saves 3.
    workdir = os.path.join(self.disk, 'run')
    self.fill(leave=16 * 1024)
    line = self.assertRefusedBeforeWriting(self.train(workdir, 4),
                                           'r_lstm.train', '3 checkpoint(s)')
    self.assertStartsWith(line, f'r_lstm.train: error: {workdir}: ')
    self.assertFinishesWithSpaceAgain(workdir, 4)

  def test_a_disk_that_fills_mid_run_keeps_the_last_checkpoint(self):
    workdir = os.path.join(self.disk, 'run')
    training = subprocess.Popen(
        [sys.executable, '-m', 'r_lstm.train', f'--workdir={workdir}',
         f'--dataset=npz:{self.npz}', *FLAGS, '--train_steps=1000000'],
        cwd=testing.REPO, env=testing.quiet_environment(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    self.addCleanup(training.kill)
    # Any checkpoint: a fast run saves and drops (--max_checkpoints) several
    # between two looks.
    checkpoints = os.path.join(workdir, 'checkpoints', 'ckpt-*.index')
    deadline = time.monotonic() + 300
    while not glob.glob(checkpoints) and training.poll() is None:
      self.assertLess(time.monotonic(), deadline, 'no first checkpoint')
      time.sleep(0.2)
    self.fill()
    _, stderr = training.communicate(timeout=300)
    line = self.assertRefusedForSpace(
        subprocess.CompletedProcess(training.args, training.returncode, '',
                                    stderr), 'r_lstm.train')
    saved = re.search(r'the newest complete checkpoint is (\S+/ckpt-(\d+));',
                      line)
    self.assertIsNotNone(saved, line)
    self.assertStartsWith(saved.group(1), f'{workdir}/checkpoints/')
    self.assertTrue(os.path.exists(saved.group(1) + '.index'))
    self.assertFinishesWithSpaceAgain(workdir, int(saved.group(2)) + 2)

  def test_export_and_predict_onto_a_full_disk(self):
    workdir = os.path.join(self.tmp, 'run')
    self.assertEqual(self.train(workdir, 2).returncode, 0)
    self.fill()
    export = os.path.join(self.disk, 'export')
    self.assertRefusedBeforeWriting(
        testing.run_module('r_lstm.export', f'--workdir={workdir}',
                           f'--output={export}'), 'r_lstm.export', 'the export')
    predictions = os.path.join(self.disk, 'p.csv')
    self.assertRefusedBeforeWriting(
        testing.run_module('r_lstm.predict', f'--model={workdir}',
                           f'--output={predictions}'), 'r_lstm.predict',
        'the predictions')


if __name__ == '__main__':
  tf.test.main()
