"""r-LSTM: reconstruct the segment before each anchor from the main state."""

from typing import Optional, Sequence, Tuple

import keras
import tensorflow as tf

from r_lstm import cells, cores, encoders, initializers, unroll
from r_lstm.objectives import base


def feed_mask(length, rows, rate: float, seed: tf.Tensor) -> tf.Tensor:
  """(length, rows) bool, each entry True with probability `rate`.

  Stateless: the same seed gives the same mask. rate 1 feeds every step
  (teacher forcing), rate 0 none.
  """
  return tf.random.stateless_uniform([length, rows], seed=seed) < rate


def sample_tokens(logits: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  """(N, C) int32 tokens drawn from softmax(logits (N, C, V)), stateless.

  No gradient flows through the draw.
  """
  shape = tf.shape(logits)
  flat = tf.reshape(tf.stop_gradient(logits), [-1, shape[-1]])
  tokens = tf.random.stateless_categorical(flat, 1, seed, dtype=tf.int32)
  return tf.reshape(tokens, shape[:-1])


def step_seeds(seed: tf.Tensor, steps) -> tf.Tensor:
  """(steps, 2): the seed of each decoder step's draw, from one seed."""
  return tf.random.experimental.stateless_split(seed, steps)


@keras.saving.register_keras_serializable(package='r_lstm')
class ReconstructionDecoder(base.AuxiliaryDecoder):
  """r-LSTM: from the main state at an anchor, re-reads the segment before it.

  The objective: at anchor a the main LSTM's state, backpropagated through
  the `aux_bptt` steps before a, starts a decoder that reconstructs the
  `aux_length` tokens before a, oldest first (the paper's Fig. 2) or with
  `order='reverse'` newest first.

  Step j predicts element j + 1 of the segment, so a segment of l elements
  gives l - 1 predictions. Step 0 always reads element 0 (the paper's "B is
  inserted into a decoder network to start the reconstruction"); each later
  step reads element j (through the decoder's own embeddings) only where the
  feed mask says so (each step with probability `feed_rate`), and no input
  otherwise (the paper's "C and D are optionally fed"). Full teacher forcing
  lets the decoder predict each pixel from its neighbours and ignore the
  anchor state; unfed steps can only be predicted from it. The bottom layer
  starts from the main state at the anchor (an LSTM's (h, c)): copied when
  the sizes match and `init` is 'auto', else through learned linear maps
  (one per state part).
  With `unfed_input='sampled'` an unfed step reads instead a sample of the
  decoder's own prediction of element j (scheduled sampling: the decoder
  learns to continue from its own mistakes, as it must at test time). That
  makes step j depend on the head's output at step j - 1, so those
  segments run the head inside the loop, after every step.
  With `embedding='shared'` the decoder reads the segment through the main
  LSTM's embedding table (passed to `call`), so the dense next-element
  signal also trains the embeddings the classifier reads; 'own' gives the
  decoder a table of its own. `initialization` chooses every weight's
  starting distribution, the start maps' included.
  """
  objective = 'reconstruction'
  attribute = 'reconstructor'

  def __init__(self, vocab_size: int, channels: int, embed_dim: int,
               main_units: int, units: int, num_layers: int,
               head_units: Sequence[int], init: str = 'auto',
               embedding: str = 'own', unfed_input: str = 'none',
               initialization: initializers.Initialization = initializers.KERAS,
               aux_length: int = 600, aux_bptt: int = 300,
               feed_rate: float = 1.0, order: str = 'forward',
               cell: str = 'lstm', rnn: str = 'auto',
               gradient: str = 'compiled', channel_embedding: str = 'concat',
               **kwargs):
    super().__init__(vocab_size, channels, units, num_layers, head_units,
                     initialization, aux_length, cell, rnn, gradient,
                     **kwargs)
    self.embed_dim = embed_dim
    self.main_units = main_units
    self.init = init
    self.aux_bptt = aux_bptt
    self.feed_rate = feed_rate
    self.order = order
    self.shares_embedding = embedding == 'shared'
    self.samples_unfed = unfed_input == 'sampled'
    self.bottom = encoders.TokenLSTM(vocab_size, channels, embed_dim, units,
                                     own_embedding=not self.shares_embedding,
                                     initialization=self.initialization,
                                     cell=cell,
                                     channel_embedding=channel_embedding,
                                     name=f'{cell}_0')
    self.init_maps = None
    if init == 'project' or main_units != units:
      self.init_maps = [self.initialization.make_dense(units, main_units,
                                                       name=f'init_{part}')
                        for part in cells.CELLS[cell].state_names]
      for dense in self.init_maps:
        dense.build((None, main_units))
    self._attach_keras_layers()
    self.built = True

  @classmethod
  def from_options(cls, options, vocab_size, channel_embedding, main_units,
                   initialization, cell='lstm', gradient='compiled'):
    return cls(vocab_size, channel_embedding.channels,
               channel_embedding.embed_dim, main_units,
               options.decoder_units, options.decoder_layers,
               options.decoder_head_units, options.decoder_init,
               options.decoder_embedding, options.decoder_unfed_input,
               initialization, aux_length=options.aux_length,
               aux_bptt=options.aux_bptt,
               feed_rate=options.decoder_feed_rate,
               order=options.decoder_order, cell=cell,
               rnn=options.decoder_rnn, gradient=gradient,
               channel_embedding=channel_embedding.design,
               name=cls.attribute)

  @classmethod
  def main_window_steps(cls, options):
    return options.aux_bptt

  @property
  def bottom_cell(self):
    return self.bottom.cell

  def get_config(self):
    return {**super().get_config(), 'embed_dim': self.embed_dim,
            'main_units': self.main_units, 'init': self.init,
            'embedding': 'shared' if self.shares_embedding else 'own',
            'unfed_input': 'sampled' if self.samples_unfed else 'none',
            'aux_bptt': self.aux_bptt, 'feed_rate': self.feed_rate,
            'order': self.order,
            'channel_embedding': self.bottom.channel_embedding.design}

  def anchor_range(self):
    return self.aux_length, 0

  def centred_anchor(self, length):
    return min(length, (length + self.aux_length) // 2)

  def window(self, anchors):
    """The main state at the anchor, backpropagated `aux_bptt` steps."""
    anchors = tf.cast(anchors, tf.int32)
    lengths = tf.minimum(anchors, self.aux_bptt)
    return unroll.Window.per_example(anchors, lengths,
                                     tf.reduce_max(lengths))

  def segment_steps(self, end):
    """The l steps before the anchor `end`, oldest first (end - l + j) or,
    with order 'reverse', newest first (end - 1 - j)."""
    j = tf.range(self.aux_length)[:, tf.newaxis]
    if self.order == 'reverse':
      return end[tf.newaxis, :] - 1 - j
    return (end - self.aux_length)[tf.newaxis, :] + j

  def score(self, window_result, segment, steps, context):
    """Fed as the feed mask drawn from `context.feed_seed` says (every
    element when it is None); the first token is given, not predicted."""
    feed = sample_seed = None
    if context.feed_seed is not None and self.feed_rate < 1:
      feed = feed_mask(self.aux_length - 1, tf.shape(steps)[1],
                       self.feed_rate, context.feed_seed)
      sample_seed = tf.random.experimental.stateless_fold_in(
          context.feed_seed, 1)
    loss, accuracy, logits = self(window_result, segment, feed,
                                  context.main_embedding, sample_seed)
    return base.Scored(loss, accuracy, logits, steps[1:])

  def call(self, anchor_state: cores.State, segment: tf.Tensor,
           feed: Optional[tf.Tensor] = None,
           main_embedding: Optional[tf.Tensor] = None,
           sample_seed: Optional[tf.Tensor] = None
           ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Scores the reconstruction of `segment`.

    Args:
      anchor_state: the main state at each row's anchor (an LSTM's (h, c)),
        each part (N, main_units).
      segment: (l, N, C) the l tokens before each anchor, time-major.
      feed: optional (l - 1, N) bool, whether step j reads element j (row 0
        is ignored: the first element is always read); None feeds all.
      main_embedding: the main LSTM's embedding table; required (and only
        read) when the decoder shares it.
      sample_seed: stateless seed of the samples unfed steps read; required
        (and only read) when the decoder samples unfed steps and `feed` is
        given.

    Returns:
      (loss (N,), accuracy (N,), logits (l - 1, N, C, V)).
    """
    state = tuple(anchor_state)
    if self.init_maps is not None:
      state = tuple(start(part) for start, part in zip(self.init_maps, state))
    if self.shares_embedding and main_embedding is None:
      raise ValueError('this decoder shares the main embedding: pass '
                       'main_embedding')
    embedding = main_embedding if self.shares_embedding else None
    if feed is not None:
      feed = tf.concat([tf.ones_like(feed[:1]), feed[1:]], axis=0)
    if feed is not None and self.samples_unfed:
      # Scheduled sampling: each step may read the previous prediction, so
      # it runs its own step loop.
      if sample_seed is None:
        raise ValueError('this decoder samples unfed steps: pass '
                         'sample_seed')
      project = self.bottom.projector(embedding)
      logits = self._sampled_logits(project, project(segment[:-1]), feed,
                                    state, sample_seed)
    elif self.runs_keras_layers:
      inputs = self.bottom.embed(segment[:-1], embedding)
      if feed is not None:
        # No input: a zero vector, whose projection is the bias alone.
        inputs *= tf.cast(feed[:, :, tf.newaxis], inputs.dtype)
      logits = self.head_logits(self.keras_outputs(inputs, state))
    else:
      projected = self.bottom.projector(embedding)(segment[:-1])
      if feed is not None:
        # An unfed step reads no input: its input projection is the bias.
        projected = tf.where(feed[:, :, tf.newaxis], projected,
                             self.bottom.cell.input_bias)
      logits = self._logits(self.bottom.cell, projected, state)
    return (*base.token_losses(logits, segment[1:]), logits)

  def _sampled_logits(self, project, projected: tf.Tensor, feed: tf.Tensor,
                      bottom_state: cores.State, seed: tf.Tensor
                      ) -> tf.Tensor:
    """Logits (L, N, C, V), one step at a time through every layer and the
    head: where `feed[j]` is False, step j reads a token drawn (seed
    `step_seeds(seed, L)[j]`) from step j - 1's prediction of element j."""
    length, rows = tf.shape(projected)[0], tf.shape(projected)[1]
    true_inputs = tf.TensorArray(projected.dtype, size=length).unstack(
        projected)
    seeds = step_seeds(seed, length)
    stack = self.stack(self.bottom.cell)
    logits_shape = [rows, self.channels, self.vocab_size]

    def body(j, previous_logits, state, outputs):
      sampled = project(sample_tokens(previous_logits, seeds[j]))
      x = tf.where(feed[j][:, tf.newaxis], true_inputs.read(j), sampled)
      state = tuple(stack.step(x, state))
      logits = tf.reshape(self.head(stack.output(state)), logits_shape)
      return j + 1, logits, state, outputs.write(j, logits)

    _, _, _, outputs = tf.while_loop(
        lambda j, *_: j < length, body,
        (tf.constant(0), tf.zeros(logits_shape),
         self.start_state(bottom_state),
         tf.TensorArray(tf.float32, size=length)))
    return outputs.stack()
