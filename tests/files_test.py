"""Tests of file access on local paths and TensorFlow filesystems
(`r_lstm.files`), and of the workdir lock on each (`r_lstm.locks`).

TensorFlow's in-memory `ram://` filesystem stands in for `gs://`: like an
object store it has no `flock`, no directory rename and no file times.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from unittest import mock

from absl.testing import parameterized
import tensorflow as tf

from r_lstm import files, locks
from r_lstm import workdir as workdir_lib
from r_lstm.errors import UsageError


def _new_ram_directory() -> str:
  return f'ram://files_test/{uuid.uuid4().hex}'


class FilesTest(parameterized.TestCase, tf.test.TestCase):

  def directory(self, where: str) -> str:
    """A new, empty directory on the local disk or on `ram://`."""
    if where == 'local':
      return self.create_tempdir().full_path
    directory = _new_ram_directory()
    files.makedirs(directory)
    return directory

  def test_schemes(self):
    self.assertTrue(files.is_url('gs://bucket/run'))
    self.assertTrue(files.is_url('ram://run'))
    self.assertFalse(files.is_url('runs/demo'))
    self.assertFalse(files.is_url('/tmp/a://b'))
    self.assertEqual(files.absolute('gs://bucket/run'), 'gs://bucket/run')
    self.assertEqual(files.parent('gs://bucket/run/'), 'gs://bucket')

  @parameterized.parameters('local', 'ram')
  def test_write_atomically_replaces_and_leaves_no_temporary(self, where):
    directory = self.directory(where)
    path = os.path.join(directory, 'config.json')
    files.write_atomically(path, 'first')
    files.write_atomically(path, b'second \xff')
    self.assertEqual(files.read_text(path), 'second \ufffd')
    self.assertEqual(files.listdir(directory), ['config.json'])

  @parameterized.parameters('local', 'ram')
  def test_lines_split_at_newlines_only(self, where):
    directory = self.directory(where)
    path = os.path.join(directory, 'metrics.jsonl')
    files.append_text(path, '{"a": 1}\n')
    files.append_text(path, '{"b\x0c\u2028": 2}\r\ntorn')
    self.assertEqual(files.read_lines(path),
                     ['{"a": 1}\n', '{"b\x0c\u2028": 2}\r\n', 'torn'])

  @parameterized.parameters('local', 'ram')
  def test_listing_and_removing(self, where):
    directory = self.directory(where)
    files.makedirs(os.path.join(directory, 'ckpt-2_temp'))
    files.write_atomically(os.path.join(directory, 'ckpt-2_temp', 'x'), 'x')
    files.write_atomically(os.path.join(directory, 'checkpoint.tmp1'), 'x')
    files.write_atomically(os.path.join(directory, 'ckpt-1.index'), 'x')
    self.assertEqual(
        workdir_lib.remove_leftovers(directory),
        ['checkpoint.tmp1', 'ckpt-2_temp'])
    self.assertEqual(files.listdir(directory), ['ckpt-1.index'])
    self.assertTrue(files.isfile(os.path.join(directory, 'ckpt-1.index')))
    self.assertFalse(files.isdir(os.path.join(directory, 'ckpt-1.index')))

  def test_copy_tree_copies_the_marker_last(self):
    source = self.create_tempdir()
    source.create_file('saved_model.pb', 'graph')
    source.create_file('variables/variables.index', 'index')
    source.create_file('config.json', '{}')
    destination = _new_ram_directory()
    copied = []
    copy = tf.io.gfile.copy

    def recording_copy(origin, target, overwrite):
      copied.append(os.path.relpath(origin, source.full_path))
      copy(origin, target, overwrite=overwrite)

    with mock.patch.object(tf.io.gfile, 'copy', recording_copy):
      files.copy_tree(source.full_path, destination, last='saved_model.pb')
    self.assertEqual(copied[-1], 'saved_model.pb')
    self.assertCountEqual(
        copied, ['saved_model.pb', 'config.json', 'variables/variables.index'])
    self.assertEqual(files.read_text(
        os.path.join(destination, 'variables', 'variables.index')), 'index')

  def test_a_failed_copy_removes_what_it_copied(self):
    source = self.create_tempdir()
    source.create_file('a', 'a')
    source.create_file('saved_model.pb', 'graph')
    destination = _new_ram_directory()
    copy = tf.io.gfile.copy

    def failing_copy(origin, target, overwrite):
      if origin.endswith('saved_model.pb'):
        raise tf.errors.ResourceExhaustedError(None, None, 'quota')
      copy(origin, target, overwrite=overwrite)

    with mock.patch.object(tf.io.gfile, 'copy', failing_copy):
      with self.assertRaises(tf.errors.ResourceExhaustedError):
        files.copy_tree(source.full_path, destination, last='saved_model.pb')
    self.assertFalse(files.exists(os.path.join(destination, 'a')))


class UrlWorkdirChecksTest(tf.test.TestCase):

  def test_a_filesystem_tensorflow_lacks_is_one_line(self):
    with self.assertRaisesRegex(UsageError,
                                r"workdir=nofs://x: File system scheme "
                                r"'nofs' not implemented"):
      workdir_lib.check_writable('nofs://x')

  def test_a_file_is_not_a_workdir(self):
    path = _new_ram_directory()
    files.write_atomically(path, 'x')
    with self.assertRaisesRegex(UsageError, 'is a file, not a directory'):
      workdir_lib.check_writable(path)

  def test_a_new_workdir_is_writable_and_left_untouched(self):
    path = _new_ram_directory()
    workdir_lib.check_writable(path)
    self.assertFalse(files.exists(path) and files.listdir(path))

  def test_reading_needs_a_run(self):
    path = _new_ram_directory()
    files.makedirs(path)
    with self.assertRaisesRegex(UsageError, 'holds no run'):
      workdir_lib.check_readable(path)
    files.write_atomically(os.path.join(path, workdir_lib.CONFIG_FILE), '{}')
    workdir_lib.check_readable(path)
    self.assertTrue(workdir_lib.is_run(path))


class LeaseTest(tf.test.TestCase):
  """The lock where `flock` cannot apply (`r_lstm.locks` module doc)."""

  def setUp(self):
    super().setUp()
    self.workdir = _new_ram_directory()
    files.makedirs(self.workdir)
    self.lock_file = os.path.join(self.workdir, locks.LOCK_FILE)

  def write_lease(self, **fields):
    lease = {'host': socket.gethostname(), 'pid': os.getpid(),
             'token': 'theirs', 'renewed': time.time()}
    lease.update(fields)
    files.write_atomically(self.lock_file, json.dumps(lease))

  def test_one_holder_at_a_time(self):
    first, second = locks.Lock(self.workdir), locks.Lock(self.workdir)
    first.acquire()
    first.acquire()  # Idempotent.
    self.assertTrue(first.held)
    with self.assertRaisesRegex(UsageError,
                                f'PID {os.getpid()} on host '
                                f'{socket.gethostname()}'):
      second.acquire()
    self.assertEqual(locks.holder(self.workdir),
                     f'PID {os.getpid()} on host {socket.gethostname()}')
    first.release()
    self.assertFalse(files.exists(self.lock_file))
    self.assertIsNone(locks.holder(self.workdir))
    second.acquire()
    second.release()

  def test_a_lease_of_an_ended_process_is_taken_over(self):
    ended = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                           capture_output=True, text=True, check=True)
    self.write_lease(pid=int(ended.stdout))
    self.assertIsNone(locks.holder(self.workdir))
    lock = locks.Lock(self.workdir)
    lock.acquire()
    self.assertTrue(lock.held)
    lock.release()

  def test_another_hosts_lease_holds_until_it_is_stale(self):
    self.write_lease(host='elsewhere', pid=1,
                     renewed=time.time() - locks.STALE_SECONDS + 60)
    with self.assertRaisesRegex(UsageError, 'PID 1 on host elsewhere'):
      locks.Lock(self.workdir).acquire()
    self.write_lease(host='elsewhere', pid=1,
                     renewed=time.time() - locks.STALE_SECONDS - 1)
    lock = locks.Lock(self.workdir)
    lock.acquire()
    self.assertEqual(json.loads(files.read_text(self.lock_file))['pid'],
                     os.getpid())
    lock.release()

  def test_a_torn_lease_is_no_lease(self):
    files.write_atomically(self.lock_file, '{"host": "elsew')
    lock = locks.Lock(self.workdir)
    lock.acquire()
    lock.release()

  def test_the_holder_renews_its_lease(self):
    with mock.patch.object(locks, 'RENEW_SECONDS', 0.05):
      lock = locks.Lock(self.workdir)
      lock.acquire()
      first = json.loads(files.read_text(self.lock_file))['renewed']
      time.sleep(0.5)
      renewed = json.loads(files.read_text(self.lock_file))['renewed']
      lock.release()
    self.assertGreater(renewed, first)

  def test_release_leaves_a_lease_taken_over_by_another(self):
    lock = locks.Lock(self.workdir)
    lock.acquire()
    self.write_lease(token='newer')
    lock.release()
    self.assertEqual(json.loads(files.read_text(self.lock_file))['token'],
                     'newer')


class LocalLockTest(tf.test.TestCase):

  def test_flock_needs_no_lock_file_to_refuse(self):
    workdir = tempfile.mkdtemp(dir=self.create_tempdir().full_path)
    first, second = locks.Lock(workdir), locks.Lock(workdir)
    first.acquire()
    self.assertEqual(os.listdir(workdir), [])
    first.record_holder()
    with self.assertRaisesRegex(UsageError, f'PID {os.getpid()}'):
      second.acquire()
    self.assertEqual(locks.holder(workdir), f'PID {os.getpid()}')
    first.release()
    self.assertIsNone(locks.holder(workdir))


if __name__ == '__main__':
  tf.test.main()
