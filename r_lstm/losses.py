"""The per-element scores every objective and the evaluation share."""

from typing import Tuple

import keras
import tensorflow as tf


def cross_entropy_and_correct(labels: tf.Tensor, logits: tf.Tensor
                              ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Softmax cross-entropy and 1.0/0.0 argmax correctness, per element.

  Args:
    labels: int labels of any shape S.
    logits: S + (num_classes,).

  Returns:
    (loss S, correct S float32).
  """
  labels = tf.cast(labels, tf.int32)
  loss = keras.losses.sparse_categorical_crossentropy(labels, logits,
                                                      from_logits=True)
  correct = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
  return loss, tf.cast(correct, tf.float32)
