"""Models: a token-reading LSTM and the sequence classifier built on it."""

from typing import Optional, Sequence

import keras
import tensorflow as tf

from r_lstm import unroll


class TokenLSTM(keras.layers.Layer):
  """Embeds integer tokens and runs a 1-layer LSTM over them.

  Each of the `channels` values of a step (1 for grey pixels and text, 3 for
  RGB) has its own embedding table of size `embed_dim`; the step's input is
  their concatenation. Embedding followed by the LSTM input matmul is one
  linear map of a one-hot, so it is folded into a (channels * vocab_size,
  4 * units) projection table computed once per forward pass: a step's input
  projection is a sum of `channels` table rows. Gradients still reach the
  embeddings and the kernel through the table.
  """

  def __init__(self, vocab_size: int, channels: int, embed_dim: int,
               units: int, **kwargs):
    super().__init__(**kwargs)
    self.vocab_size = vocab_size
    self.channels = channels
    self.embedding = self.add_weight(
        shape=(channels, vocab_size, embed_dim),
        initializer=keras.initializers.RandomUniform(-0.05, 0.05),
        name='embedding')
    self.cell = unroll.LSTMCell(channels * embed_dim, units, name='lstm')
    self.built = True

  @property
  def units(self) -> int:
    return self.cell.units

  def projector(self) -> unroll.Project:
    """A `project` callable for `unroll`: tokens (..., channels) -> (..., 4u)."""
    kernel = tf.reshape(self.cell.kernel,
                        [self.channels, -1, 4 * self.cell.units])
    table = tf.reshape(tf.einsum('cve,ceg->cvg', self.embedding, kernel),
                       [self.channels * self.vocab_size, -1])
    channel_offsets = tf.range(self.channels) * self.vocab_size

    def project(tokens):
      rows = tf.gather(table, tf.cast(tokens, tf.int32) + channel_offsets)
      return tf.reduce_sum(rows, axis=-2) + self.cell.bias

    return project

  def final_states(self, tokens: tf.Tensor, lengths: tf.Tensor,
                   bptt: Optional[int]) -> unroll.State:
    """State after each example's last token; see `unroll.final_states`.

    Args:
      tokens: batch-major int tokens (B, T, channels).
      lengths: (B,) valid length of each example.
      bptt: truncation window, or None for a gradient-free pass.
    """
    inputs = tf.transpose(tokens, [1, 0, 2])
    return unroll.final_states(self.cell, self.projector(), inputs, lengths,
                               bptt)


class SequenceClassifier(keras.Model):
  """LSTM over tokens -> feed-forward head on the last state -> class logits.

  The supervised gradient reaches only the last `bptt` steps of each example
  (full backpropagation when `bptt` >= the sequence length).
  """

  def __init__(self, num_classes: int, vocab_size: int = 256,
               channels: int = 1, embed_dim: int = 128,
               lstm_units: int = 128, head_units: Sequence[int] = (256, 256),
               bptt: int = 300, **kwargs):
    super().__init__(**kwargs)
    self.bptt = bptt
    self.encoder = TokenLSTM(vocab_size, channels, embed_dim, lstm_units,
                             name='encoder')
    self.head = keras.Sequential(
        [keras.layers.Dense(n, activation='relu') for n in head_units]
        + [keras.layers.Dense(num_classes)], name='head')
    self.head.build((None, lstm_units))
    self.built = True  # Every weight exists now; no shape inference needed.

  def call(self, tokens, lengths, training=False):
    """Class logits (B, num_classes) for tokens (B, T, channels)."""
    h, _ = self.encoder.final_states(
        tokens, lengths, self.bptt if training else None)
    return self.head(h)
