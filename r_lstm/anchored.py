"""A classifier trained with auxiliary objectives at anchors, over any
backbone that runs exact gradient windows.

`AnchoredClassifier` holds what every such backbone shares: one decoder
per objective its `auxiliary` names (`registry.OBJECTIVES`), each scored at
its anchors through the window that objective chooses, and the supervised
objective through the last `bptt` steps. Windows, anchors and segments are
in steps of the sequence, whatever unit the backbone advances in. A
backbone says only
- how it runs a batch of step windows from exactly cut states
  (`_run_step_windows`),
- what its classifier head reads from its final state (`_classify`),
- where its states can start a decoder (`_align_anchors`; every step for
  an RNN, segment boundaries for `memory_transformer`) and what of the
  state a decoder starts from (`_anchor_state`),
- which embedding table a decoder may share (`_main_embedding`).
"""

from typing import Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

import tensorflow as tf

from r_lstm import encoders, initializers, losses, memory, registry, steps
from r_lstm import unroll
from r_lstm.objectives import base

PerExample = Tuple[tf.Tensor, tf.Tensor]  # (loss (B,), accuracy (B,))
Anchors = Mapping[str, Tuple[tf.Tensor, tf.Tensor]]


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


def objective_memory_terms(config, shape: memory.Shape,
                           main_units: int) -> memory.Terms:
  """The share of one update of every objective `config` attaches
  (`AuxiliaryDecoder.memory_terms`), over a backbone of `main_units`."""
  terms = memory.Terms(0, {})
  options = base.DecoderOptions.of(config)
  channel_embedding = encoders.ChannelEmbedding.of(config, shape.channels)
  for name in config.objectives:
    terms += registry.objective_class(name).memory_terms(
        options, shape, config.batch_size * config.num_anchors, config.cell,
        main_units, channel_embedding)
  return terms


class AnchoredClassifier(steps.KerasFit):
  """The objectives of a classifier with a state: supervised through the
  last `bptt` steps, and each auxiliary decoder at its anchors.

  Subclasses (Keras models) set `bptt` and call `_attach_decoders` in
  their constructor, and implement the hooks the module docstring lists.
  """

  bptt: int

  def _attach_decoders(self, auxiliary: Sequence[str],
                       decoder: base.DecoderOptions, vocab_size: int,
                       channel_embedding: encoders.ChannelEmbedding,
                       state_units: int, output_units: int,
                       initialization: initializers.Initialization,
                       cell: str, rnn_gradient: str) -> None:
    """One decoder per objective of `auxiliary`, each under its class's
    `attribute` (the path of its weights in checkpoints). A decoder that
    reads the backbone's outputs sees `output_units` per step; one started
    from its state sees `state_units` per state part; one that reads tokens
    embeds them as the backbone does (`channel_embedding`)."""
    for name in registry.OBJECTIVES:
      setattr(self, registry.objective_class(name).attribute, None)
    self._auxiliary_attributes = []
    for name in auxiliary:
      decoder_class = registry.objective_class(name)
      main_units = (output_units if decoder_class.reads_outputs
                    else state_units)
      setattr(self, decoder_class.attribute, decoder_class.from_options(
          decoder, vocab_size, channel_embedding, main_units,
          initialization, cell, rnn_gradient))
      self._auxiliary_attributes.append(decoder_class.attribute)

  @property
  def auxiliary_decoders(self) -> Tuple[base.AuxiliaryDecoder, ...]:
    return tuple(getattr(self, attribute)
                 for attribute in self._auxiliary_attributes)

  @property
  def auxiliary_objectives(self) -> Tuple[str, ...]:
    return tuple(decoder.objective for decoder in self.auxiliary_decoders)

  def _run_step_windows(self, inputs: tf.Tensor, lengths: tf.Tensor,
                        windows: Sequence[unroll.Window],
                        reads_outputs: Sequence[bool]):
    """`unroll.run_windows` over time-major tokens (T, B, C): each window
    run with gradient from its exactly cut start state; one result per
    window (the final state, and with `reads_outputs` the per-step outputs
    (max_length, N, output units), end-aligned)."""
    raise NotImplementedError

  def _classify(self, final_state) -> tf.Tensor:
    """Class logits (B, classes) from each example's final state."""
    raise NotImplementedError

  def _align_anchors(self, anchors: Anchors, lengths: tf.Tensor) -> Anchors:
    """The anchors as the backbone can start decoders from them."""
    del lengths
    return anchors

  def _anchor_state(self, state):
    """What a decoder reads of the state at its window's end, as the
    state parts of its cell."""
    return state

  @property
  def _main_embedding(self) -> Optional[tf.Tensor]:
    """The embedding table a decoder with a shared embedding reads."""
    raise NotImplementedError

  def objectives(self, tokens, lengths, labels, anchors: Anchors,
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

  def predict_segments(self, tokens, lengths, anchors: Anchors,
                       feed_seed=None
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
    anchors = self._align_anchors(anchors, lengths)
    windows = [decoder.window(anchors[decoder.objective][0])
               for decoder in self.auxiliary_decoders]
    reads_outputs = [decoder.reads_outputs
                     for decoder in self.auxiliary_decoders]
    if supervised:
      windows.insert(0, unroll.Window.last_steps(lengths, self.bptt))
      reads_outputs.insert(0, False)
    results = self._run_step_windows(inputs, lengths, windows, reads_outputs)
    outputs = {}
    if supervised:
      logits = self._classify(results[0])
      outputs[steps.SUPERVISED] = _Objective(
          losses.cross_entropy_and_correct(labels, logits), logits, None)
      windows, results = windows[1:], results[1:]
    context = base.Context(self._main_embedding, feed_seed)
    for decoder, window, result in zip(self.auxiliary_decoders, windows,
                                       results):
      segment_steps = decoder.segment_steps(window.end)
      segment = unroll.gather_steps(inputs, window.example, segment_steps)
      if decoder.reads_outputs:
        result = (self._anchor_state(result[0]), result[1])
      else:
        result = self._anchor_state(result)
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
