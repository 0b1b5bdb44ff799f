"""The sequence classifier: a token LSTM, a head on its last state, and the
auxiliary objectives (`r_lstm.objectives`) attached at sampled anchors
(`r_lstm.anchored`).

The supervised objective is the class cross-entropy from the state after
the last step; its gradient reaches the last `bptt` steps of each example.
Each auxiliary objective chooses its own exact gradient window into the
main LSTM (r-LSTM: the `aux_bptt` steps before the anchor; p-LSTM: the
steps its decoder reads).
"""

from typing import Sequence

import keras
import tensorflow as tf

from r_lstm import anchored, cells, cores, dtypes, encoders, heads
from r_lstm import initializers, memory, unroll
from r_lstm.objectives import base


def build(config, data) -> 'SequenceClassifier':
  """The recurrent backbone (`registry.BACKBONES`: lstm, gru) of a run,
  with the objectives its `auxiliary` names."""
  return SequenceClassifier(
      num_classes=data.num_classes, vocab_size=data.vocab_size,
      channels=data.channels, embed_dim=config.embed_dim,
      channel_embedding=config.channel_embedding,
      lstm_units=config.lstm_units, head_units=config.head_units,
      bptt=config.bptt, head_input=config.head_input,
      auxiliary=config.objectives, decoder=base.DecoderOptions.of(config),
      cell=config.cell, rnn_gradient=config.rnn_gradient,
      initialization=initializers.Initialization.from_config(config),
      dtype=config.precision)


def memory_terms(config, shape: memory.Shape) -> memory.Terms:
  """What one update of `build(config, data)` keeps (`r_lstm.memory`)."""
  cell = cells.CELLS[config.cell]
  units = config.lstm_units
  state_parts = len(cell.state_names) if config.head_input == 'state' else 1
  embedding = encoders.ChannelEmbedding.of(
      config, shape.channels).weight_count(shape.vocab_size)
  table = shape.channels * shape.vocab_size * cell.gates * units
  weights = (embedding + table + cell.weight_count(units, units)
             + memory.dense_weights((state_parts * units, *config.head_units,
                                     shape.num_classes)))
  terms = memory.Terms(weights, {
      'supervised window (batch_size x bptt)': cell.window_bytes(
          config.batch_size, min(config.bptt, shape.max_length), units)})
  return terms + anchored.objective_memory_terms(config, shape, units)


@keras.saving.register_keras_serializable(package='r_lstm')
class SequenceClassifier(anchored.AnchoredClassifier, keras.Model):
  """Token LSTM -> feed-forward head on the last state -> class logits,
  with any auxiliary objectives (r-LSTM, p-LSTM) attached.

  `initialization` (`r_lstm.initializers`) chooses the starting
  distribution of every weight, the decoders' included.
  """

  def __init__(self, num_classes: int, vocab_size: int = 256,
               channels: int = 1, embed_dim: int = 128,
               lstm_units: int = 128, head_units: Sequence[int] = (256, 256),
               bptt: int = 300, head_input: str = 'state',
               auxiliary: Sequence[str] = (),
               decoder: base.DecoderOptions = base.DecoderOptions(),
               initialization: initializers.Initialization = initializers.KERAS,
               cell: str = 'lstm', rnn_gradient: str = 'compiled',
               channel_embedding: str = 'concat', **kwargs):
    """`auxiliary` names the objectives (`registry.OBJECTIVES`) to
    attach, each built from `decoder` (a `DecoderOptions` or its dict).
    `cell` ('lstm' or 'gru', `cells.CELLS`) is the recurrent cell of the
    encoder and of every decoder; `rnn_gradient` (`configs.RNN_GRADIENTS`,
    `unroll.scan`) how their windows' gradients are computed;
    `channel_embedding` (`encoders.ChannelEmbedding`) how the encoder and
    the r-decoder embed a step's channels."""
    decoder = base.DecoderOptions.of(decoder)
    initialization = initializers.Initialization.of(initialization)
    self._arguments = dict(
        num_classes=num_classes, vocab_size=vocab_size, channels=channels,
        embed_dim=embed_dim, lstm_units=lstm_units,
        head_units=list(head_units), bptt=bptt, head_input=head_input,
        auxiliary=list(auxiliary), decoder=decoder.to_dict(),
        initialization=initialization.to_dict(), cell=cell,
        rnn_gradient=rnn_gradient, channel_embedding=channel_embedding)
    super().__init__(**kwargs)
    with dtypes.policy_scope(self.dtype_policy):
      self.bptt = bptt
      self.head_input = head_input
      self.rnn_gradient = rnn_gradient
      self.encoder = encoders.TokenLSTM(vocab_size, channels, embed_dim,
                                        lstm_units,
                                        initialization=initialization,
                                        cell=cell,
                                        channel_embedding=channel_embedding,
                                        name='encoder')
      state_parts = len(cells.CELLS[cell].state_names)
      head_input_dim = lstm_units * (state_parts if head_input == 'state'
                                     else 1)
      self.head = heads.feed_forward(head_units, num_classes, head_input_dim,
                                     name='head', initialization=initialization)
      self._attach_decoders(auxiliary, decoder, vocab_size,
                            self.encoder.channel_embedding, lstm_units,
                            lstm_units, initialization, cell, rnn_gradient)
      self.built = True  # Every weight exists now; no shape inference needed.

  def get_config(self):
    return {**super().get_config(), **self._arguments}

  def call(self, tokens, lengths=None, training=False):
    """Class logits (B, num_classes) for tokens (B, T, channels).

    `tokens` may be the pair (tokens, lengths), as `predict` and `fit`
    pass their inputs. With training=True the forward pass is the
    supervised window's (same value, gradient through the last `bptt`
    steps only); otherwise a single gradient-free pass.
    """
    if lengths is None:
      tokens, lengths = tokens
    inputs = anchored.time_major(tokens)
    return self._classify(unroll.final_states(
        self.encoder.core(), inputs, lengths,
        self.bptt if training else None, self.rnn_gradient))

  def _classify(self, final_state: cores.State) -> tf.Tensor:
    """Class logits from the state after the last step: the head reads the
    output h, or with head_input 'state' the whole state (an LSTM's h and
    c: a closed output gate can hide in h what c holds)."""
    if self.head_input == 'state':
      return self.head(tf.concat(final_state, -1))
    return self.head(self.encoder.cell.output(final_state))

  def _run_step_windows(self, inputs, lengths, windows, reads_outputs):
    del lengths  # Each window knows its own steps.
    return unroll.run_windows(self.encoder.core(), inputs, windows,
                              reads_outputs, self.rnn_gradient)

  @property
  def _main_embedding(self):
    return self.encoder.embedding
