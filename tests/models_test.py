"""Tests of the token LSTM and the classifier."""

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from r_lstm import encoders, models

B, T, VOCAB = 3, 12, 16


class TokenLSTMTest(tf.test.TestCase):

  def test_projection_table_equals_embedding_then_matmul(self):
    keras.utils.set_random_seed(0)
    encoder = encoders.TokenLSTM(VOCAB, channels=3, embed_dim=5, units=4)
    tokens = np.random.RandomState(0).randint(0, VOCAB, (B, T, 3))
    embedded = np.concatenate(
        [np.asarray(encoder.embedding)[c][tokens[..., c]] for c in range(3)],
        axis=-1)
    want = embedded @ np.asarray(encoder.cell.kernel) + np.asarray(
        encoder.cell.bias)
    self.assertAllClose(encoder.projector()(tf.constant(tokens)), want,
                        atol=1e-5)


class SequenceClassifierTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    keras.utils.set_random_seed(0)
    self.model = models.SequenceClassifier(
        num_classes=5, vocab_size=VOCAB, embed_dim=4, lstm_units=6,
        head_units=(7,), bptt=4)

  def test_logits_shape_and_windowed_equals_gradient_free_forward(self):
    tokens = tf.random.uniform([B, T, 1], 0, VOCAB, tf.int32)
    lengths = tf.constant([T, 9, 2])
    train_logits = self.model(tokens, lengths, training=True)
    self.assertEqual(train_logits.shape, (B, 5))
    self.assertAllClose(train_logits, self.model(tokens, lengths), atol=1e-6)

  @parameterized.product(bptt=[4, T], use_function=[False, True])
  def test_supervised_gradient_reaches_only_the_last_bptt_tokens(
      self, bptt, use_function):
    """Token 0 appears only before the window: its embedding gets no
    gradient unless the window covers the whole sequence."""
    self.model.bptt = bptt
    rng = np.random.RandomState(1)
    tokens = rng.randint(1, VOCAB, (B, T, 1))
    tokens[:, :T - 4] = 0
    tokens[:, 0] = 1  # Token 1 also appears inside every window.
    tokens[:, -1] = 1

    def embedding_grad():
      with tf.GradientTape() as tape:
        logits = self.model(tf.constant(tokens), tf.fill([B], T),
                            training=True)
        loss = tf.reduce_sum(logits * tf.range(5, dtype=tf.float32))
      return tape.gradient(loss, self.model.encoder.embedding)

    grad = (tf.function(embedding_grad) if use_function else embedding_grad)()
    row_norms = np.abs(tf.convert_to_tensor(grad).numpy()[0]).sum(axis=-1)
    if bptt < T:
      self.assertEqual(row_norms[0], 0.0)
    else:
      self.assertGreater(row_norms[0], 0.0)
    self.assertGreater(row_norms[1], 0.0)


if __name__ == '__main__':
  tf.test.main()
