"""The sequence classifier: a token LSTM, a head on its last state, and the
auxiliary objectives (`r_lstm.objectives`) attached at sampled anchors.

The supervised objective is the class cross-entropy from the state after
the last step; its gradient reaches the last `bptt` steps of each example.
Each auxiliary objective chooses its own exact gradient window into the
main LSTM (r-LSTM: the `aux_bptt` steps before the anchor; p-LSTM: the
steps its decoder reads).
"""

from typing import Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

import keras
import tensorflow as tf

from r_lstm import cells, cores, dtypes, encoders, heads, initializers, losses
from r_lstm import memory, registry, steps, unroll
from r_lstm.objectives import base

PerExample = Tuple[tf.Tensor, tf.Tensor]  # (loss (B,), accuracy (B,))


def build(config, data) -> 'SequenceClassifier':
  """The recurrent backbone (`registry.BACKBONES`: lstm, gru) of a run,
  with the objectives its `auxiliary` names."""
  return SequenceClassifier(
      num_classes=data.num_classes, vocab_size=data.vocab_size,
      channels=data.channels, embed_dim=config.embed_dim,
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
  embedding = shape.channels * shape.vocab_size * config.embed_dim
  table = shape.channels * shape.vocab_size * cell.gates * units
  weights = (embedding + table + cell.weight_count(units, units)
             + memory.dense_weights((state_parts * units, *config.head_units,
                                     shape.num_classes)))
  terms = memory.Terms(weights, {
      'supervised window (batch_size x bptt)': cell.window_bytes(
          config.batch_size, min(config.bptt, shape.max_length), units)})
  options = base.DecoderOptions.of(config)
  for name in config.objectives:
    terms += registry.objective_class(name).memory_terms(
        options, shape, config.batch_size * config.num_anchors, config.cell,
        units, config.embed_dim)
  return terms


class _Objective(NamedTuple):
  per_example: PerExample
  logits: tf.Tensor  # (B, classes), or (L, B * A, C, V) for a decoder.
  steps: Optional[tf.Tensor]  # (L, B * A) positions the logits stand for.


def time_major(tokens) -> tf.Tensor:
  """int32 tokens (T, B, C) from tokens (B, T, C), as the unroll reads them.

  The transpose runs on float32 (exact for every token id): oneDNN's
  transpose takes integer types only on AVX-512 machines and prints an
  error line where it falls back. Batches from `input_pipeline` are int32
  already, so Grappler has no narrower type to move the transpose to.
  """
  as_float = tf.cast(tokens, tf.float32)
  return tf.cast(tf.transpose(as_float, [1, 0, 2]), tf.int32)


@keras.saving.register_keras_serializable(package='r_lstm')
class SequenceClassifier(steps.KerasFit, keras.Model):
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
               cell: str = 'lstm', rnn_gradient: str = 'sequence',
               **kwargs):
    """`auxiliary` names the objectives (`registry.OBJECTIVES`) to
    attach, each built from `decoder` (a `DecoderOptions` or its dict).
    `cell` ('lstm' or 'gru', `cells.CELLS`) is the recurrent cell of the
    encoder and of every decoder; `rnn_gradient` ('sequence' or
    'autodiff', `unroll.scan`) how their windows' gradients are computed."""
    decoder = base.DecoderOptions.of(decoder)
    initialization = initializers.Initialization.of(initialization)
    self._arguments = dict(
        num_classes=num_classes, vocab_size=vocab_size, channels=channels,
        embed_dim=embed_dim, lstm_units=lstm_units,
        head_units=list(head_units), bptt=bptt, head_input=head_input,
        auxiliary=list(auxiliary), decoder=decoder.to_dict(),
        initialization=initialization.to_dict(), cell=cell,
        rnn_gradient=rnn_gradient)
    super().__init__(**kwargs)
    with dtypes.policy_scope(self.dtype_policy):
      self.bptt = bptt
      self.head_input = head_input
      self.rnn_gradient = rnn_gradient
      self.encoder = encoders.TokenLSTM(vocab_size, channels, embed_dim,
                                        lstm_units,
                                        initialization=initialization,
                                        cell=cell, name='encoder')
      state_parts = len(cells.CELLS[cell].state_names)
      head_input_dim = lstm_units * (state_parts if head_input == 'state'
                                     else 1)
      self.head = heads.feed_forward(head_units, num_classes, head_input_dim,
                                     name='head', initialization=initialization)
      # Each decoder under its own attribute: the path of its weights in
      # checkpoints.
      for name in registry.OBJECTIVES:
        setattr(self, registry.objective_class(name).attribute, None)
      self._auxiliary_attributes = []
      for name in auxiliary:
        decoder_class = registry.objective_class(name)
        setattr(self, decoder_class.attribute, decoder_class.from_options(
            decoder, vocab_size, channels, embed_dim, lstm_units,
            initialization, cell, rnn_gradient))
        self._auxiliary_attributes.append(decoder_class.attribute)
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
    inputs = time_major(tokens)
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

  @property
  def auxiliary_decoders(self) -> Tuple[base.AuxiliaryDecoder, ...]:
    return tuple(getattr(self, attribute)
                 for attribute in self._auxiliary_attributes)

  @property
  def auxiliary_objectives(self) -> Tuple[str, ...]:
    return tuple(decoder.objective for decoder in self.auxiliary_decoders)

  def objectives(self, tokens, lengths, labels,
                 anchors: Mapping[str, Tuple[tf.Tensor, tf.Tensor]],
                 supervised: bool = True,
                 feed_seed: Optional[tf.Tensor] = None
                 ) -> Dict[str, PerExample]:
    """Per-example loss and accuracy of each objective.

    Args:
      tokens: (B, T, C) int tokens; lengths: (B,); labels: (B,).
      anchors: for each auxiliary objective, (anchors (B, A), valid (B,))
        as drawn by `anchors.sample` over the decoder's `anchor_range`.
      supervised: include the supervised objective (False while
        pretraining on the auxiliary losses alone).
      feed_seed: stateless seed of how decoders read their segments (the
        reconstruction's feed mask and samples); None reads every element.

    Returns:
      {objective: (loss (B,), accuracy (B,))}; an example's auxiliary loss
      is the mean over its anchors (0 where it has no valid anchor).
    """
    outputs = self._run_objectives(tokens, lengths, labels, anchors,
                                   supervised, feed_seed)
    return {name: output.per_example for name, output in outputs.items()}

  def predict_segments(self, tokens, lengths, anchors, feed_seed=None
                       ) -> Dict[str, Tuple[tf.Tensor, tf.Tensor]]:
    """What each decoder predicts at the given anchors (the reconstruction
    fed as in `objectives`).

    Returns:
      {objective: (steps (L, B * A), predicted tokens (L, B * A, C))}: row
      r = b * A + k is anchor k of example b; steps are the positions in the
      example that the predicted tokens stand for.
    """
    outputs = self._run_objectives(tokens, lengths, None, anchors,
                                   supervised=False, feed_seed=feed_seed)
    return {name: (output.steps, tf.argmax(output.logits, -1,
                                           output_type=tf.int32))
            for name, output in outputs.items()}

  def _run_objectives(self, tokens, lengths, labels, anchors, supervised,
                      feed_seed):
    """Runs every objective's window; {name: _Objective}."""
    inputs = time_major(tokens)
    lengths = tf.cast(lengths, tf.int32)
    windows = [decoder.window(anchors[decoder.objective][0])
               for decoder in self.auxiliary_decoders]
    reads_outputs = [decoder.reads_outputs
                     for decoder in self.auxiliary_decoders]
    if supervised:
      windows.insert(0, unroll.Window.last_steps(lengths, self.bptt))
      reads_outputs.insert(0, False)
    results = unroll.run_windows(self.encoder.core(), inputs, windows,
                                 reads_outputs, self.rnn_gradient)
    outputs = {}
    if supervised:
      logits = self._classify(results[0])
      outputs[steps.SUPERVISED] = _Objective(
          losses.cross_entropy_and_correct(labels, logits), logits, None)
      windows, results = windows[1:], results[1:]
    context = base.Context(self.encoder.embedding, feed_seed)
    for decoder, window, result in zip(self.auxiliary_decoders, windows,
                                       results):
      segment_steps = decoder.segment_steps(window.end)
      segment = unroll.gather_steps(inputs, window.example, segment_steps)
      scored = decoder.score(result, segment, segment_steps, context)
      outputs[decoder.objective] = _Objective(
          _mean_over_anchors(scored.loss, scored.accuracy,
                             anchors[decoder.objective][1],
                             window.rows_per_example),
          scored.logits, scored.steps)
    return outputs


def _mean_over_anchors(loss, accuracy, valid, rows_per_example) -> PerExample:
  mask = tf.cast(valid, tf.float32)
  return tuple(
      tf.reduce_mean(tf.reshape(v, [-1, rows_per_example]), axis=1) * mask
      for v in (loss, accuracy))
