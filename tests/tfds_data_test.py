"""TFDS image datasets (mocked: no network), pMNIST and offline TFDS dirs."""

import contextlib
import io
import os
import subprocess
import sys

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from r_lstm import configs, errors, import_arrays, input_pipeline
from tests import testing


def _load(dataset, **changes):
  return input_pipeline.load(configs.Config(dataset=dataset, **changes))


class TfdsImagesTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ('mnist', 'mnist', {}, 784, 1, 10),
      ('mnist_resized', 'mnist', {'image_size': 14}, 196, 1, 10),
      ('cifar10', 'cifar10', {}, 1024, 3, 10),
      ('cifar10_grey', 'cifar10', {'grayscale': True}, 1024, 1, 10),
      ('stanford_dogs_32', 'stanford_dogs', {'image_size': 32}, 1024, 3, 120),
      ('stanford_dogs_8_grey', 'stanford_dogs',
       {'image_size': 8, 'grayscale': True}, 64, 1, 120),
      ('any_tfds_name', 'tfds:cifar10', {'image_size': 4}, 16, 3, 10))
  def test_pixel_sequences(self, dataset, changes, length, channels,
                           num_classes):
    with tfds.testing.mock_data(num_examples=6):
      data = _load(dataset, **changes)
    self.assertEqual(data.name, dataset)
    self.assertEqual(data.test_split_name, 'test')
    self.assertEqual(data.num_classes, num_classes)
    self.assertEqual(data.max_length, length)
    self.assertEqual(data.channels, channels)
    for split in (data.train, data.test):
      self.assertLen(split, 6)
      self.assertEqual(split.tokens.shape, (6, length, channels))
      self.assertEqual(split.tokens.dtype, np.uint8)
      self.assertAllEqual(split.lengths, np.full([6], length))
      self.assertTrue(np.all((split.labels >= 0)
                             & (split.labels < num_classes)))
    # Mock pixels are uniform over 0..255: unresized, the full range
    # reaches the model.
    if 'image_size' not in changes:
      self.assertGreater(data.train.tokens.max(), 240)
    self.assertGreater(data.train.tokens.std(), 5)

  def test_variable_size_images_need_image_size(self):
    with tfds.testing.mock_data(num_examples=2):
      with self.assertRaisesRegex(errors.UsageError, 'image_size') as raised:
        _load('stanford_dogs')
      self.assertIn('--image_size', raised.exception.as_flags())

  def test_missing_data_names_the_directory_and_the_offline_fix(self):
    empty = self.create_tempdir().full_path
    with self.assertRaisesRegex(
        errors.UsageError,
        f'not prepared in {empty}.*never downloads.*import_arrays'):
      _load('mnist', data_dir=empty)

  def test_unknown_tfds_name(self):
    with self.assertRaisesRegex(errors.UsageError, 'no dataset named'):
      _load('tfds:no_such_dataset')

  def test_not_an_image_classification_set(self):
    with self.assertRaisesRegex(errors.UsageError,
                                'not an image-classification dataset'):
      _load('tfds:imdb_reviews')


class PermutedMnistTest(tf.test.TestCase):

  def test_permutation_is_a_seeded_bijection(self):
    permutation = input_pipeline.pixel_permutation(7, 784)
    self.assertAllEqual(np.sort(permutation), np.arange(784))
    self.assertAllEqual(permutation, input_pipeline.pixel_permutation(7, 784))
    self.assertNotAllEqual(permutation,
                           input_pipeline.pixel_permutation(8, 784))

  def test_permutation_is_stable_across_processes(self):
    code = ('from r_lstm import input_pipeline;'
            'print(list(input_pipeline.pixel_permutation(7, 784)))')
    printed = subprocess.run([sys.executable, '-c', code], check=True,
                             capture_output=True, text=True).stdout
    self.assertEqual(printed.strip(),
                     str(list(input_pipeline.pixel_permutation(7, 784))))

  def test_pmnist_permutes_both_splits_and_is_recorded(self):
    workdir = self.create_tempdir().full_path
    config = configs.Config(dataset='pmnist', permutation_seed=3)
    with tfds.testing.mock_data(num_examples=4):
      plain = _load('mnist')
      permuted = input_pipeline.load(config, workdir)
      input_pipeline.record_permutation(permuted, workdir)
      reloaded = input_pipeline.load(config, workdir)
      with self.assertRaisesRegex(errors.UsageError,
                                  'another permutation'):
        input_pipeline.load(config.replace(permutation_seed=4), workdir)
    permutation = input_pipeline.pixel_permutation(3, 784)
    saved = np.load(os.path.join(workdir, input_pipeline.PERMUTATION_FILE))
    self.assertAllEqual(saved, permutation)
    self.assertAllEqual(permuted.permutation, permutation)
    for name in ('train', 'test'):
      self.assertAllEqual(getattr(permuted, name).tokens,
                          getattr(plain, name).tokens[:, permutation])
      self.assertAllEqual(getattr(reloaded, name).tokens,
                          getattr(permuted, name).tokens)
    self.assertIsNone(permuted.image_shape)

  def test_corrupt_recorded_permutation(self):
    workdir = self.create_tempdir().full_path
    np.save(os.path.join(workdir, input_pipeline.PERMUTATION_FILE),
            np.zeros(784, np.int32))
    with tfds.testing.mock_data(num_examples=2):
      with self.assertRaisesRegex(errors.UsageError, 'not a permutation'):
        input_pipeline.load(configs.Config(dataset='pmnist'), workdir)


class ImportArraysTest(tf.test.TestCase):

  def test_arrays_round_trip_through_a_standard_tfds_dir(self):
    npz = os.path.join(self.create_tempdir().full_path, 'mnist.npz')
    rng = np.random.RandomState(0)
    arrays = {'x_train': rng.randint(0, 256, (9, 28, 28), np.uint8),
              'y_train': rng.randint(0, 10, 9).astype(np.uint8),
              'x_test': rng.randint(0, 256, (4, 28, 28), np.uint8),
              'y_test': rng.randint(0, 10, 4).astype(np.uint8)}
    np.savez(npz, **arrays)
    data_dir = self.create_tempdir().full_path
    with contextlib.redirect_stdout(io.StringIO()) as printed:
      import_arrays.import_arrays('mnist', npz, data_dir)
    self.assertEqual(printed.getvalue(), '')  # No "Downloading ..." line.
    for split in ('train', 'test'):
      loaded = list(tfds.as_numpy(tfds.load(
          'mnist', split=split, data_dir=data_dir, download=False)))
      self.assertAllEqual(np.stack([e['image'][..., 0] for e in loaded]),
                          arrays[f'x_{split}'])
      self.assertAllEqual([e['label'] for e in loaded], arrays[f'y_{split}'])
    data = _load('mnist', data_dir=data_dir)
    self.assertAllEqual(data.test.tokens[..., 0],
                        arrays['x_test'].reshape(4, 784))
    self.assertAllEqual(data.test.labels, arrays['y_test'])

  def test_bad_arrays(self):
    path = os.path.join(self.create_tempdir().full_path, 'bad.npz')
    testing.write_tiny_npz(path, side=4)  # 4x4 images are not MNIST's 28x28.
    with self.assertRaisesRegex(errors.UsageError, 'shape'):
      import_arrays.import_arrays('mnist', path,
                                  self.create_tempdir().full_path)
    with self.assertRaisesRegex(errors.UsageError, 'no dataset named'):
      import_arrays.import_arrays('mnistt', path,
                                  self.create_tempdir().full_path)


if __name__ == '__main__':
  tf.test.main()
