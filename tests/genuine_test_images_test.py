"""Tests of matching genuine images to their compressed copies."""

import numpy as np
import tensorflow as tf

from experiments import genuine_test_images
from r_lstm import input_pipeline


def split(tokens, labels):
  tokens = np.asarray(tokens, np.uint8)[..., np.newaxis]
  return input_pipeline.Split(tokens, np.full([len(tokens)], tokens.shape[1],
                                              np.int32),
                              np.asarray(labels, np.int32))


class MatchCopiesTest(tf.test.TestCase):

  def test_each_image_finds_its_noisy_copy_within_its_class(self):
    rng = np.random.RandomState(0)
    images = rng.randint(10, 240, [6, 20])
    labels = [0, 1, 0, 1, 2, 2]
    order = np.array([4, 2, 0, 5, 1, 3])  # The copies, shuffled.
    noisy = images[order] + rng.randint(-6, 7, [6, 20])
    matches = genuine_test_images.match_copies(
        split(images, labels), split(noisy, np.array(labels)[order]))
    self.assertAllEqual(order[matches], np.arange(6))

  def test_a_closer_image_of_another_class_is_not_taken(self):
    genuine = split([[100, 100]], [1])
    copies = split([[100, 100], [90, 110]], [0, 1])
    self.assertAllEqual(genuine_test_images.match_copies(genuine, copies),
                        [1])


if __name__ == '__main__':
  tf.test.main()
