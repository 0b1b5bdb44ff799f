"""Tests of the room-on-disk checks made before a tool writes."""

import os
from unittest import mock

import tensorflow as tf

from r_lstm import disk_space
from r_lstm.errors import EnvironmentFault
from tests import testing


class DiskSpaceTest(tf.test.TestCase):

  def test_sizes_read_as_people_write_them(self):
    self.assertEqual(disk_space.size_text(999), '999 B')
    self.assertEqual(disk_space.size_text(19_128), '19.1 kB')
    self.assertEqual(disk_space.size_text(3_590_000), '3.6 MB')

  def test_a_missing_path_is_checked_on_its_nearest_directory(self):
    directory = self.create_tempdir().full_path
    self.assertEqual(
        disk_space.free_bytes(os.path.join(directory, 'new', 'run')),
        disk_space.free_bytes(directory))

  def test_too_little_room_names_the_sizes(self):
    directory = self.create_tempdir().full_path
    with mock.patch.object(disk_space, 'free_bytes', return_value=16_000):
      with self.assertRaisesRegex(
          EnvironmentFault,
          f'^{directory}: not enough free space for 3 checkpoint\\(s\\) of '
          r'19.1 kB \(max_checkpoints=3 kept, and one being written\): 16.0 '
          r'kB free, about 57.4 kB needed; nothing was written\.'):
        disk_space.check_checkpoint_room(
            testing.TINY_CONFIG.replace(max_checkpoints=3, train_steps=4,
                                        checkpoint_every=2),
            weights=1594, workdir=directory, complete=0)
      # Resumed, keeping one checkpoint that is there: room for the one
      # being written is enough (12 kB).
      disk_space.check_checkpoint_room(
          testing.TINY_CONFIG.replace(max_checkpoints=1, train_steps=100,
                                      checkpoint_every=2),
          weights=1000, workdir=directory, complete=1)

  def test_filesystems_without_free_space_are_not_checked(self):
    self.assertIsNone(disk_space.free_bytes('gs://bucket/run'))
    disk_space.check_room('ram://run', 10 ** 15, 'anything', '')


if __name__ == '__main__':
  tf.test.main()
