"""Tests of the Transformer baseline."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from r_lstm import models, transformer


def _model(channels=1, **kwargs):
  return transformer.TransformerClassifier(
      num_classes=3, max_length=12, channels=channels, embed_dim=4, units=8,
      layers=2, num_heads=2, ffn_units=16, head_units=(16,), **kwargs)


class TransformerTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.product(channels=[1, 3], use_function=[False, True])
  def test_forward_and_backward_shapes(self, channels, use_function):
    model = _model(channels)
    tokens = tf.random.uniform([4, 12, channels], 0, 256, tf.int32)
    lengths = tf.constant([12, 12, 5, 1])
    labels = tf.constant([0, 1, 2, 0])

    def loss_and_grads():
      with tf.GradientTape() as tape:
        loss, accuracy = model.objectives(tokens, lengths, labels)['supervised']
        total = tf.reduce_mean(loss)
      return loss, accuracy, tape.gradient(total, model.trainable_variables)

    run = tf.function(loss_and_grads) if use_function else loss_and_grads
    loss, accuracy, grads = run()
    self.assertEqual(model(tokens, lengths).shape, (4, 3))
    self.assertEqual(loss.shape, (4,))
    self.assertEqual(accuracy.shape, (4,))
    for variable, grad in zip(model.trainable_variables, grads):
      self.assertIsNotNone(grad, msg=variable.path)
      self.assertEqual(grad.shape, variable.shape)
      self.assertTrue(np.all(np.isfinite(grad.numpy())), msg=variable.path)

  def test_padding_after_each_examples_end_is_ignored(self):
    model = _model()
    tokens = np.random.RandomState(0).randint(0, 256, [3, 12, 1])
    lengths = tf.constant([12, 7, 2])
    logits = model(tokens, lengths)
    changed = tokens.copy()
    changed[1, 7:] = 9
    changed[2, 2:] = 200
    self.assertAllClose(model(changed, lengths), logits, atol=1e-5)
    changed[1, 6] = (changed[1, 6] + 1) % 256  # Inside the example: matters.
    self.assertNotAllClose(model(changed, lengths)[1], logits[1])

  def test_gradient_reaches_every_valid_step_and_no_padding(self):
    model = _model()
    tokens = tf.random.uniform([2, 12, 1], 0, 256, tf.int32)
    lengths = tf.constant([12, 6])
    with tf.GradientTape() as tape:
      loss, _ = model.objectives(tokens, lengths,
                                 tf.constant([0, 1]))['supervised']
      example_1 = loss[1]
    grad = tape.gradient(example_1, model.positions).numpy()
    self.assertTrue(np.all(np.abs(grad[:6]).sum(-1) > 0))
    self.assertAllEqual(grad[6:], np.zeros_like(grad[6:]))

  def test_size_is_comparable_to_the_lstm(self):
    def count(model):
      return sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    lstm = models.SequenceClassifier(10)
    baseline = transformer.TransformerClassifier(10, max_length=784)
    ratio = count(baseline) / count(lstm)
    self.assertBetween(ratio, 0.75, 1.33)


if __name__ == '__main__':
  tf.test.main()
