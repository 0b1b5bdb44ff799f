"""Tests of the datasets: the offline default, npz files and tf.data."""

import os
from unittest import mock

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from r_lstm import configs, errors, images, input_pipeline
from tests import testing


class Mnist5kTest(tf.test.TestCase):

  def test_offline_default_is_a_seeded_train_validation_split(self):
    data = input_pipeline.load(configs.Config())
    self.assertEqual(data.name, 'mnist5k')
    self.assertEqual(data.test_split_name, 'validation')
    self.assertEqual((len(data.train), len(data.test)), (4000, 1000))
    self.assertEqual(data.train.tokens.shape, (4000, 784, 1))
    self.assertEqual(data.image_shape, (28, 28, 1))
    self.assertEqual(data.train.tokens.dtype, np.uint8)
    self.assertEqual(data.num_classes, 10)
    for split in (data.train, data.test):
      self.assertAllEqual(np.unique(split.labels), np.arange(10))
      self.assertAllEqual(split.lengths, np.full([len(split)], 784))
    # The file is sorted by class; the split must not be.
    self.assertGreater(len(set(data.train.labels[:50])), 5)
    again = input_pipeline.load(configs.Config(seed=123))
    self.assertAllEqual(again.test.tokens, data.test.tokens)

  def test_image_size_resizes_before_reading_pixels(self):
    data = input_pipeline.load(configs.Config(image_size=14))
    self.assertEqual(data.train.tokens.shape, (4000, 196, 1))
    self.assertEqual(data.image_shape, (14, 14, 1))


class NpzTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path
    self.path = os.path.join(self.dir, 'images.npz')

  def test_keras_layout_images(self):
    arrays = testing.write_tiny_npz(self.path, num_train=24, num_test=10)
    data = input_pipeline.load(configs.Config(dataset=f'npz:{self.path}'))
    self.assertEqual(data.test_split_name, 'test')
    self.assertEqual(data.train.tokens.shape, (24, 16, 1))
    self.assertAllEqual(data.train.tokens[..., 0],
                        arrays['x_train'].reshape(24, 16))
    self.assertAllEqual(data.test.labels, arrays['y_test'])
    self.assertEqual(data.num_classes, 2)

  def test_resize_averages_pixel_blocks(self):
    arrays = testing.write_tiny_npz(self.path, side=4)
    data = input_pipeline.load(
        configs.Config(dataset=f'npz:{self.path}', image_size=2))
    blocks = arrays['x_train'].reshape(-1, 2, 2, 2, 2).astype(np.float64)
    want = np.round(blocks.mean(axis=(2, 4))).reshape(-1, 4)
    self.assertAllClose(data.train.tokens[..., 0], want, atol=1)

  @parameterized.parameters((None, False), (3, False), (5, True), (None, True))
  def test_chunks_give_the_whole_set_conversion(self, image_size, grayscale):
    rgb = np.random.RandomState(0).randint(0, 256, [11, 6, 6, 3], np.uint8)
    whole = images.pixel_tokens(rgb, image_size, grayscale).numpy()
    size = image_size or 6
    # Three images' float32 output per chunk: 11 images in 3 + 3 + 3 + 2.
    chunk_bytes = 3 * size * size * (1 if grayscale else 3) * 4
    with mock.patch.object(images, 'RESIZE_CHUNK_BYTES', chunk_bytes), \
        mock.patch.object(images, 'pixel_tokens',
                          wraps=images.pixel_tokens) as convert:
      tokens, shape = images.pixel_sequences(rgb, image_size, grayscale)
    self.assertEqual(convert.call_count, 4)
    self.assertEqual(tokens.dtype, np.uint8)
    self.assertEqual(shape, (size, size, 1 if grayscale else 3))
    self.assertAllEqual(tokens, whole)

  def test_colour_images_have_three_channels(self):
    rgb = np.zeros([5, 3, 3, 3], np.uint8)
    np.savez(self.path, x_train=rgb, y_train=np.arange(5),
             x_test=rgb, y_test=np.arange(5))
    data = input_pipeline.load(configs.Config(dataset=f'npz:{self.path}'))
    self.assertEqual(data.channels, 3)
    self.assertEqual(data.image_shape, (3, 3, 3))
    self.assertEqual(data.max_length, 9)

  @parameterized.named_parameters(
      ('missing_file', None, 'does not exist'),
      ('missing_keys', {'x_train': np.zeros([2, 2, 2], np.uint8)},
       "lacks arrays \\['x_test', 'y_test', 'y_train'\\]"),
      ('float_images', {'x_train': np.zeros([2, 2, 2]), 'y_train': [0, 1],
                        'x_test': np.zeros([2, 2, 2]), 'y_test': [0, 1]},
       'must be uint8'),
      ('negative_label', {'x_train': np.zeros([2, 2, 2], np.uint8),
                          'y_train': [0, -1],
                          'x_test': np.zeros([1, 2, 2], np.uint8),
                          'y_test': [0]}, 'y_train has a negative label'),
      ('label_count', {'x_train': np.zeros([2, 2, 2], np.uint8),
                       'y_train': [0, 1, 1],
                       'x_test': np.zeros([1, 2, 2], np.uint8),
                       'y_test': [0]}, 'one label per x_train row'),
      ('empty_split', {'x_train': np.zeros([2, 2, 2], np.uint8),
                       'y_train': [0, 1],
                       'x_test': np.zeros([0, 2, 2], np.uint8),
                       'y_test': np.zeros([0], np.int64)},
       'y_test must be a non-empty'),
      ('float_tokens', {'x_train': np.zeros([2, 3]), 'y_train': [0, 1],
                        'x_test': np.zeros([1, 3]), 'y_test': [0]},
       'x_train must be integer tokens'),
      ('not_a_zip', b'plain text', 'not a readable .npz'))
  def test_bad_npz_is_a_usage_error(self, content, message):
    if isinstance(content, dict):
      np.savez(self.path, **content)
    elif content is not None:
      with open(self.path, 'wb') as f:
        f.write(content)
    with self.assertRaisesRegex(errors.UsageError, message):
      input_pipeline.load(configs.Config(dataset=f'npz:{self.path}'))

  def test_unknown_dataset_is_a_usage_error(self):
    with self.assertRaisesRegex(errors.UsageError, "unknown dataset 'mnst'"):
      input_pipeline.load(configs.Config(dataset='mnst'))


class DatasetTest(tf.test.TestCase):

  def test_eval_dataset_keeps_the_remainder(self):
    split = testing.tiny_split(37)
    sizes = [int(b[2].shape[0])
             for b in input_pipeline.eval_dataset(split, 10)]
    self.assertEqual(sizes, [10, 10, 10, 7])

  def test_train_dataset_is_seeded_and_reshuffles(self):
    split = testing.tiny_split(16)
    first = [b[2].numpy() for b in input_pipeline.train_dataset(
        split, 16, seed=1).take(2)]
    again = [b[2].numpy() for b in input_pipeline.train_dataset(
        split, 16, seed=1).take(2)]
    self.assertAllEqual(first, again)
    tokens = [b[0].numpy() for b in input_pipeline.train_dataset(
        split, 16, seed=1).take(2)]
    self.assertNotAllEqual(tokens[0], tokens[1])


if __name__ == '__main__':
  tf.test.main()
