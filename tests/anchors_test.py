"""Tests of anchor sampling."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from r_lstm import anchors


def draw(lengths, num_anchors, low, margin, step=0, seed=0, stream=0,
         sharing='example'):
  result, valid = anchors.sample(tf.constant(lengths), num_anchors, low,
                                 margin, anchors.step_seed(seed, step, stream),
                                 sharing)
  return result.numpy(), valid.numpy()


class AnchorsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters((6, 0), (1, 6))
  def test_anchors_lie_in_each_examples_own_range(self, low, margin):
    lengths = [50, 30, 12]
    result, valid = draw(lengths, 500, low, margin)
    self.assertTrue(valid.all())
    for b, length in enumerate(lengths):
      self.assertGreaterEqual(result[b].min(), low)
      self.assertLessEqual(result[b].max(), length - margin)
      # Both ends of the range are reachable.
      self.assertEqual(set(result[b]), set(range(low, length - margin + 1)))

  def test_uniform_over_valid_positions(self):
    result, _ = draw([25], 20000, 6, 0)
    counts = np.bincount(result[0] - 6)
    self.assertLen(counts, 20)
    expected = 20000 / 20
    self.assertLess(np.abs(counts - expected).max(), 0.15 * expected)

  def test_examples_draw_independently(self):
    result, _ = draw([40] * 64, 1, 6, 0)
    self.assertGreater(len(set(result[:, 0])), 20)

  def test_a_batch_shares_its_anchors(self):
    result, valid = draw([40] * 64, 3, 6, 0, sharing='batch')
    self.assertTrue(valid.all())
    self.assertAllEqual(result, np.broadcast_to(result[:1], result.shape))
    # The anchors of one example still differ from each other.
    self.assertGreater(len(set(result[0])), 1)

  def test_shared_anchors_cover_the_range_over_updates(self):
    firsts = [draw([25] * 4, 1, 6, 0, step=step, sharing='batch')[0][0, 0]
              for step in range(400)]
    self.assertEqual(set(firsts), set(range(6, 26)))

  def test_shared_anchors_scale_to_each_examples_length(self):
    lengths = [60, 30, 16]
    result, _ = draw(lengths, 200, 6, 0, sharing='batch')
    for b, length in enumerate(lengths):
      self.assertGreaterEqual(result[b].min(), 6)
      self.assertLessEqual(result[b].max(), length)
    # The same fraction of each range: longer examples' anchors are later.
    self.assertTrue((result[0] >= result[1]).all())
    self.assertTrue((result[1] >= result[2]).all())

  def test_resampled_every_step_and_reproducible(self):
    first, _ = draw([40] * 8, 4, 6, 0, step=0)
    again, _ = draw([40] * 8, 4, 6, 0, step=0)
    later, _ = draw([40] * 8, 4, 6, 0, step=1)
    other_stream, _ = draw([40] * 8, 4, 6, 0, step=0, stream=1)
    other_seed, _ = draw([40] * 8, 4, 6, 0, step=0, seed=1)
    self.assertAllEqual(first, again)
    for different in (later, other_stream, other_seed):
      self.assertNotAllEqual(first, different)

  def test_examples_too_short_are_marked_invalid(self):
    result, valid = draw([30, 5, 6], 3, 6, 0)
    self.assertAllEqual(valid, [True, False, True])
    self.assertAllEqual(result[2], [6, 6, 6])

  def test_replicas_draw_different_anchors(self):
    strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])

    @tf.function
    def per_replica():
      return strategy.run(lambda: draw_in_graph())

    def draw_in_graph():
      return anchors.sample(tf.fill([16], 40), 2, 6, 0,
                            anchors.step_seed(0, tf.constant(3), 0))[0]

    values = strategy.experimental_local_results(per_replica())
    self.assertNotAllEqual(values[0], values[1])


if __name__ == '__main__':
  tf.test.main()
