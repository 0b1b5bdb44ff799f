"""Token encoders: embeddings folded into a recurrent cell's input matmul."""

import dataclasses

import keras
import tensorflow as tf

from r_lstm import cells, cores, initializers

# The einsum that folds the embedding tables into the input kernel, per
# design: (tables, vocab, embed) x the kernel's rows -> (channels, vocab,
# gates), one projection table per channel.
_FOLDS = {'concat': 'cve,ceg->cvg', 'sum': 'cve,eg->cvg',
          'shared': 've,ceg->cvg'}


@dataclasses.dataclass(frozen=True)
class ChannelEmbedding:
  """How the `channels` tokens of a step (3 for RGB pixels) become one
  input vector (`configs.CHANNEL_EMBEDDINGS`; the paper leaves it open):

  - concat: a table per channel, the channels' embeddings concatenated
    (input `channels * embed_dim`);
  - sum: a table per channel, the embeddings summed (input `embed_dim`);
  - shared: one table for every channel, concatenated.

  With one channel the three are the same network.
  """
  design: str
  channels: int
  embed_dim: int

  @classmethod
  def of(cls, config, channels: int) -> 'ChannelEmbedding':
    """The design a run's config names, for data of `channels`."""
    return cls(config.channel_embedding, channels, config.embed_dim)

  def __post_init__(self):
    if self.design not in _FOLDS:
      raise ValueError(f'unknown channel embedding {self.design!r}')

  @property
  def tables(self) -> int:
    return 1 if self.design == 'shared' else self.channels

  @property
  def width(self) -> int:
    """The size of a step's input vector."""
    return self.embed_dim if self.design == 'sum' else (
        self.channels * self.embed_dim)

  def weight_count(self, vocab_size: int) -> int:
    return self.tables * vocab_size * self.embed_dim

  def add_weight(self, layer: keras.layers.Layer, vocab_size: int,
                 initialization: initializers.Initialization
                 = initializers.KERAS):
    """The (tables, vocab_size, embed_dim) tables, as `layer`'s weight."""
    return layer.add_weight(
        shape=(self.tables, vocab_size, self.embed_dim),
        initializer=initialization.embedding_initializer(vocab_size,
                                                         self.embed_dim),
        name='embedding')

  def embed(self, embedding: tf.Tensor, tokens: tf.Tensor) -> tf.Tensor:
    """The input vectors (..., width) of tokens (..., channels)."""
    tokens = tf.cast(tokens, tf.int32)
    vectors = [tf.gather(embedding[0 if self.design == 'shared' else c],
                         tokens[..., c]) for c in range(self.channels)]
    if self.design == 'sum':
      return tf.add_n(vectors)
    return tf.concat(vectors, axis=-1)

  def fold(self, embedding: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """(channels, vocab_size, gates): channel c's token v times `kernel`
    (width, gates) is row [c, v], so a step's input projection is a sum
    of `channels` rows."""
    if self.design == 'shared':
      embedding = embedding[0]
    if self.design != 'sum':
      kernel = tf.reshape(kernel, [self.channels, self.embed_dim, -1])
    return tf.einsum(_FOLDS[self.design], embedding, kernel)


@keras.saving.register_keras_serializable(package='r_lstm')
class TokenLSTM(keras.layers.Layer):
  """A recurrent layer (an LSTM, or with `cell='gru'` a GRU) that reads
  integer tokens through its own embeddings.

  The `channels` values of a step (1 for grey pixels and text, 3 for RGB)
  are embedded as `channel_embedding` says (`ChannelEmbedding`; by default
  a table of size `embed_dim` per channel, concatenated). Embedding
  followed by the LSTM input matmul is one linear map of a one-hot, so it
  is folded into a (channels * vocab_size, gates) projection table
  computed once per forward pass: a step's input projection is a sum of
  `channels` table rows. Gradients still reach the embeddings and the
  kernel through the table.

  With `own_embedding=False` the layer has no table of its own and
  `projector` must be given another layer's (a decoder reading the main
  LSTM's embeddings). `initialization` chooses the starting distributions
  of the table and the LSTM.
  """

  def __init__(self, vocab_size: int, channels: int, embed_dim: int,
               units: int, own_embedding: bool = True,
               initialization: initializers.Initialization = initializers.KERAS,
               cell: str = 'lstm', channel_embedding: str = 'concat',
               **kwargs):
    super().__init__(**kwargs)
    self.vocab_size = vocab_size
    self.channels = channels
    self.embed_dim = embed_dim
    self.channel_embedding = ChannelEmbedding(channel_embedding, channels,
                                              embed_dim)
    self.initialization = initializers.Initialization.of(initialization)
    self.embedding = None
    if own_embedding:
      self.embedding = self.channel_embedding.add_weight(
          self, vocab_size, self.initialization)
    self.cell_kind = cell
    self.cell = cells.CELLS[cell](self.channel_embedding.width, units,
                                   self.initialization, name=cell)
    self.built = True

  def get_config(self):
    return {**super().get_config(), 'vocab_size': self.vocab_size,
            'channels': self.channels, 'embed_dim': self.embed_dim,
            'units': self.units, 'own_embedding': self.embedding is not None,
            'initialization': self.initialization.to_dict(),
            'cell': self.cell_kind,
            'channel_embedding': self.channel_embedding.design}

  @property
  def units(self) -> int:
    return self.cell.units

  def core(self, embedding=None) -> cores.ProjectedCore:
    """The cell reading tokens through `projector(embedding)`."""
    return cores.ProjectedCore(self.cell, self.projector(embedding))

  def embed(self, tokens: tf.Tensor, embedding=None) -> tf.Tensor:
    """The cell's dense inputs (..., width) for tokens (..., channels).
    `embedding` replaces the layer's own. For a library layer that
    multiplies its inputs itself; the unroll gathers from the folded table
    instead (`projector`)."""
    if embedding is None:
      embedding = self.embedding
    return self.channel_embedding.embed(self.cell.computed(embedding),
                                        tokens)

  def projector(self, embedding=None) -> cores.Project:
    """Projects tokens (..., channels) to the gate inputs (..., gates).

    `embedding` (tables, vocab_size, embed_dim) replaces the layer's own.
    """
    if embedding is None:
      embedding = self.embedding
    table = tf.reshape(
        self.channel_embedding.fold(self.cell.computed(embedding),
                                    self.cell.computed(self.cell.kernel)),
        [self.channels * self.vocab_size, -1])
    channel_offsets = tf.range(self.channels) * self.vocab_size

    def project(tokens):
      rows = tf.gather(table, tf.cast(tokens, tf.int32) + channel_offsets)
      return tf.reduce_sum(rows, axis=-2) + self.cell.input_bias

    return project
