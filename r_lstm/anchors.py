"""Anchor sampling for the auxiliary losses.

An anchor is a position a in an example: the state after its first a steps.
Anchors are drawn uniformly over the positions valid for each example's own
length, afresh at every update (the seed folds in the update and replica
number): independently per example, or shared by a batch.
"""

import tensorflow as tf


def sample(lengths: tf.Tensor, num_anchors: int, low: int, margin: int,
           seed: tf.Tensor, sharing: str = 'example'):
  """Draws anchors uniformly from [low, length_b - margin] for each example.

  Args:
    lengths: (B,) int, each example's own length.
    num_anchors: anchors per example.
    low: smallest valid anchor.
    margin: the largest valid anchor is length_b - margin.
    seed: a stateless seed, shape [2].
    sharing: 'example' draws each example's anchors independently; 'batch'
      draws one uniform number per anchor for the whole batch and scales it
      to each example's range, so equal-length examples share the anchor
      position.

  Returns:
    anchors: (B, num_anchors) int32.
    valid: (B,) bool, False for examples too short to hold an anchor (their
      anchors are `low` and their auxiliary losses must be masked).
  """
  lengths = tf.cast(lengths, tf.int32)
  span = lengths - margin - low + 1
  rows = tf.shape(lengths)[0] if sharing == 'example' else 1
  uniform = tf.random.stateless_uniform([rows, num_anchors], seed=seed)
  offsets = tf.cast(tf.floor(uniform * tf.cast(tf.maximum(span, 1),
                                               tf.float32)[:, tf.newaxis]),
                    tf.int32)
  offsets = tf.minimum(offsets, tf.maximum(span, 1)[:, tf.newaxis] - 1)
  return low + offsets, span > 0


def step_seed(seed: int, step: tf.Tensor, stream: int) -> tf.Tensor:
  """A stateless seed for one update, one replica and one anchor stream."""
  context = tf.distribute.get_replica_context()
  replica = context.replica_id_in_sync_group if context else 0
  key = tf.cast(step, tf.int64) * 1024 + tf.cast(replica, tf.int64)
  return tf.random.experimental.stateless_fold_in(
      tf.constant([seed, stream], tf.int64), key)
