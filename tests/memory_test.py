"""Tests of the memory estimate that refuses runs too large to fit."""

from absl.testing import parameterized
import tensorflow as tf

from r_lstm import images, memory, presets, registry
from r_lstm.errors import UsageError

GIB = 2 ** 30
MNIST = memory.Shape(max_length=784, channels=1, vocab_size=256,
                     num_classes=10)


class MemoryTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(
      ('mnist_r_lstm_t300', 784, 1, 10), ('cifar10_p_lstm_t300', 1024, 3, 10),
      ('stanford_dogs_128_r_lstm_t300', 128 * 128, 3, 120),
      ('mnist_transformer', 784, 1, 10), ('dbpedia_r_lstm_t300', 4096, 1, 14))
  def test_every_paper_setting_fits_a_small_machine(self, preset, length,
                                                    channels, classes):
    config = presets.preset(preset)
    shape = memory.Shape(length, channels, 256, classes)
    needed = sum(memory.update_terms(config, shape).values())
    self.assertLess(needed, 12 * GIB)
    memory.check(config, shape, available=12 * GIB)

  def test_auxiliary_terms_grow_with_the_anchors(self):
    config = presets.preset('mnist_r_lstm_t300')
    one = memory.update_terms(config, MNIST)
    four = memory.update_terms(config.replace(num_anchors=4), MNIST)
    name = 'reconstruction (batch_size x num_anchors x aux_length)'
    self.assertEqual(four[name], 4 * one[name])
    self.assertEqual(four['supervised window (batch_size x bptt)'],
                     one['supervised window (batch_size x bptt)'])

  def test_refusal_names_the_largest_part(self):
    config = presets.preset('mnist_r_lstm_t300').replace(num_anchors=1000)
    with self.assertRaisesRegex(UsageError, 'largest part is the '
                                'reconstruction .*num_anchors') as raised:
      memory.check(config, MNIST, available=4 * GIB)
    self.assertIn('(--batch_size x --num_anchors x --aux_length)',
                  raised.exception.as_flags())

  @parameterized.parameters(*registry.BACKBONES)
  def test_a_shared_channel_table_counts_once(self, backbone):
    """RGB: `--channel_embedding=shared` keeps one table, not three."""
    config = presets.preset('mnist_r_lstm_t300').replace(
        backbone=backbone, auxiliary='none')
    rgb = MNIST._replace(channels=3)
    weights = {design: config.backbone_entry.load().memory_terms(
        config.replace(channel_embedding=design), rgb).weights
               for design in ('concat', 'shared')}
    self.assertEqual(weights['concat'] - weights['shared'],
                     2 * rgb.vocab_size * config.embed_dim)

  def test_resize_refused_before_it_allocates(self):
    with self.assertRaisesRegex(UsageError, '^image_size=4096') as raised:
      images.check_resize_fits(10000, 4096, 3, available=4 * GIB)
    self.assertStartsWith(raised.exception.as_flags(), '--image_size=4096')
    images.check_resize_fits(10000, 64, 3, available=4 * GIB)

  def test_resize_needs_the_uint8_images_and_one_chunks_working_set(self):
    # MNIST at 128 x 128: 1 GB of pixels kept, float32 only a chunk at a time.
    needed = (60000 * 128 * 128
              + images.RESIZE_COPIES * images.RESIZE_CHUNK_BYTES)
    images.check_resize_fits(60000, 128, 1, available=needed)
    with self.assertRaisesRegex(UsageError, '^image_size=128'):
      images.check_resize_fits(60000, 128, 1, available=needed - 1)

  @parameterized.parameters(*registry.AUXILIARY)
  def test_every_objective_brings_its_own_terms(self, auxiliary):
    config = presets.preset('mnist_r_lstm_t300').replace(auxiliary=auxiliary)
    terms = memory.update_terms(config, MNIST)
    for objective in registry.AUXILIARY[auxiliary]:
      self.assertIn(
          f'{objective} (batch_size x num_anchors x aux_length)', terms)
    self.assertLen(terms, 2 + len(registry.AUXILIARY[auxiliary]))

  def test_each_cell_counts_what_it_keeps(self):
    lstm = memory.update_terms(presets.preset('mnist_r_lstm_t300'), MNIST)
    gru = memory.update_terms(
        presets.preset('mnist_r_lstm_t300').replace(backbone='gru'), MNIST)
    name = 'supervised window (batch_size x bptt)'
    self.assertEqual(gru[name] * 16, lstm[name] * 13)


if __name__ == '__main__':
  tf.test.main()
