"""Token encoders: embeddings folded into a recurrent cell's input matmul."""

import keras
import tensorflow as tf

from r_lstm import cells, cores, initializers


def add_token_embedding(
    layer: keras.layers.Layer, channels: int, vocab_size: int,
    embed_dim: int,
    initialization: initializers.Initialization = initializers.KERAS):
  """One (vocab_size x embed_dim) table per channel, as `layer`'s weight."""
  return layer.add_weight(
      shape=(channels, vocab_size, embed_dim),
      initializer=initialization.embedding_initializer(vocab_size,
                                                       embed_dim),
      name='embedding')


@keras.saving.register_keras_serializable(package='r_lstm')
class TokenLSTM(keras.layers.Layer):
  """A recurrent layer (an LSTM, or with `cell='gru'` a GRU) that reads
  integer tokens through its own embeddings.

  Each of the `channels` values of a step (1 for grey pixels and text, 3 for
  RGB) has its own embedding table of size `embed_dim`; the step's input is
  their concatenation. Embedding followed by the LSTM input matmul is one
  linear map of a one-hot, so it is folded into a (channels * vocab_size,
  gates) projection table computed once per forward pass: a step's input
  projection is a sum of `channels` table rows. Gradients still reach the
  embeddings and the kernel through the table.

  With `own_embedding=False` the layer has no table of its own and
  `projector` must be given another layer's (a decoder reading the main
  LSTM's embeddings). `initialization` chooses the starting distributions
  of the table and the LSTM.
  """

  def __init__(self, vocab_size: int, channels: int, embed_dim: int,
               units: int, own_embedding: bool = True,
               initialization: initializers.Initialization = initializers.KERAS,
               cell: str = 'lstm', **kwargs):
    super().__init__(**kwargs)
    self.vocab_size = vocab_size
    self.channels = channels
    self.embed_dim = embed_dim
    self.initialization = initializers.Initialization.of(initialization)
    self.embedding = None
    if own_embedding:
      self.embedding = add_token_embedding(self, channels, vocab_size,
                                           embed_dim, self.initialization)
    self.cell_kind = cell
    self.cell = cells.CELLS[cell](channels * embed_dim, units,
                                   self.initialization, name=cell)
    self.built = True

  def get_config(self):
    return {**super().get_config(), 'vocab_size': self.vocab_size,
            'channels': self.channels, 'embed_dim': self.embed_dim,
            'units': self.units, 'own_embedding': self.embedding is not None,
            'initialization': self.initialization.to_dict(),
            'cell': self.cell_kind}

  @property
  def units(self) -> int:
    return self.cell.units

  def core(self, embedding=None) -> cores.ProjectedCore:
    """The cell reading tokens through `projector(embedding)`."""
    return cores.ProjectedCore(self.cell, self.projector(embedding))

  def embed(self, tokens: tf.Tensor, embedding=None) -> tf.Tensor:
    """The cell's dense inputs (..., channels * embed_dim) for tokens
    (..., channels): each channel's embedding, concatenated in channel
    order (the kernel's row blocks). `embedding` replaces the layer's own.
    For a library layer that multiplies its inputs itself; the unroll
    gathers from the folded table instead (`projector`)."""
    if embedding is None:
      embedding = self.embedding
    embedding = self.cell.computed(embedding)
    tokens = tf.cast(tokens, tf.int32)
    return tf.concat([tf.gather(embedding[c], tokens[..., c])
                      for c in range(self.channels)], axis=-1)

  def projector(self, embedding=None) -> cores.Project:
    """Projects tokens (..., channels) to the gate inputs (..., gates).

    `embedding` (channels, vocab_size, embed_dim) replaces the layer's own.
    """
    if embedding is None:
      embedding = self.embedding
    gates = self.cell.kernel.shape[-1]
    kernel = tf.reshape(self.cell.computed(self.cell.kernel),
                        [self.channels, -1, gates])
    embedding = self.cell.computed(embedding)
    table = tf.reshape(tf.einsum('cve,ceg->cvg', embedding, kernel),
                       [self.channels * self.vocab_size, -1])
    channel_offsets = tf.range(self.channels) * self.vocab_size

    def project(tokens):
      rows = tf.gather(table, tf.cast(tokens, tf.int32) + channel_offsets)
      return tf.reduce_sum(rows, axis=-2) + self.cell.input_bias

    return project
