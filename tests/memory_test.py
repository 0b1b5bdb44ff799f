"""Tests of the memory estimate that refuses runs too large to fit."""

from absl.testing import parameterized
import tensorflow as tf

from r_lstm import configs, memory
from r_lstm.errors import UsageError

GIB = 2 ** 30


class MemoryTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(
      ('mnist_r_lstm_t300', 784, 1, 10), ('cifar10_p_lstm_t300', 1024, 3, 10),
      ('stanford_dogs_128_r_lstm_t300', 128 * 128, 3, 120),
      ('mnist_transformer', 784, 1, 10), ('dbpedia_r_lstm_t300', 4096, 1, 14))
  def test_every_paper_setting_fits_a_small_machine(self, preset, length,
                                                    channels, classes):
    config = configs.preset(preset)
    needed = sum(memory.update_terms(config, length, channels, 256,
                                     classes).values())
    self.assertLess(needed, 12 * GIB)
    memory.check(config, length, channels, 256, classes, available=12 * GIB)

  def test_auxiliary_terms_grow_with_the_anchors(self):
    config = configs.preset('mnist_r_lstm_t300')
    one = memory.update_terms(config, 784, 1, 256, 10)
    four = memory.update_terms(config.replace(num_anchors=4), 784, 1, 256, 10)
    name = 'reconstruction (batch_size x num_anchors x aux_length)'
    self.assertEqual(four[name], 4 * one[name])
    self.assertEqual(four['supervised window (batch_size x bptt)'],
                     one['supervised window (batch_size x bptt)'])

  def test_refusal_names_the_largest_part(self):
    config = configs.preset('mnist_r_lstm_t300').replace(num_anchors=1000)
    with self.assertRaisesRegex(UsageError, 'largest part is the '
                                'reconstruction .*num_anchors') as raised:
      memory.check(config, 784, 1, 256, 10, available=4 * GIB)
    self.assertIn('(--batch_size x --num_anchors x --aux_length)',
                  raised.exception.as_flags())

  def test_resize_refused_before_it_allocates(self):
    with self.assertRaisesRegex(UsageError, '^image_size=4096') as raised:
      memory.check_images(10000, 4096, 3, available=4 * GIB)
    self.assertStartsWith(raised.exception.as_flags(), '--image_size=4096')
    memory.check_images(10000, 64, 3, available=4 * GIB)


if __name__ == '__main__':
  tf.test.main()
