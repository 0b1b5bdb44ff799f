"""The sequence classifier and its training objectives.

Objectives, each with its own exact gradient window into the main LSTM:
- 'supervised': class cross-entropy from the state after the last step; the
  gradient reaches the last `bptt` steps of each example.
- 'reconstruction' (r-LSTM): at each anchor a, a decoder started from the
  main state at a reconstructs the `aux_length` tokens before a; the gradient
  reaches the main LSTM through the `aux_bptt` steps before a.
- 'prediction' (p-LSTM): an LSTM stacked on the main one reads its outputs at
  positions a .. a + aux_length - 1 and predicts the token at each; the
  gradient reaches the main LSTM through exactly the steps it reads.
"""

from typing import Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

import keras
import tensorflow as tf

from r_lstm import decoders, encoders, heads, initializers, losses, steps
from r_lstm import unroll

PerExample = Tuple[tf.Tensor, tf.Tensor]  # (loss (B,), accuracy (B,))


class _Objective(NamedTuple):
  per_example: PerExample
  logits: tf.Tensor  # (B, classes), or (L, B * A, C, V) for a decoder.
  steps: Optional[tf.Tensor]  # (L, B * A) positions the logits stand for.


@keras.saving.register_keras_serializable(package='r_lstm')
class SequenceClassifier(steps.KerasFit, keras.Model):
  """Token LSTM -> feed-forward head on the last state -> class logits,
  optionally with r-LSTM and/or p-LSTM auxiliary decoders.

  `initialization` (`r_lstm.initializers`) chooses the starting
  distribution of every weight, the decoders' included.
  """

  def __init__(self, num_classes: int, vocab_size: int = 256,
               channels: int = 1, embed_dim: int = 128,
               lstm_units: int = 128, head_units: Sequence[int] = (256, 256),
               bptt: int = 300, head_input: str = 'state',
               reconstruction: bool = False,
               prediction: bool = False, aux_length: int = 600,
               aux_bptt: int = 300, decoder_units: int = 256,
               decoder_layers: int = 2,
               decoder_head_units: Sequence[int] = (256, 256),
               decoder_init: str = 'auto', decoder_feed_rate: float = 1.0,
               decoder_unfed_input: str = 'none',
               decoder_embedding: str = 'own',
               decoder_order: str = 'forward',
               initialization: initializers.Initialization = initializers.KERAS,
               **kwargs):
    # Every constructor argument, for `get_config`.
    self._arguments = {name: value for name, value in locals().items()
                       if name not in ('self', 'kwargs', '__class__')}
    initialization = initializers.Initialization.of(initialization)
    self._arguments['initialization'] = initialization.to_dict()
    super().__init__(**kwargs)
    self.bptt = bptt
    self.head_input = head_input
    self.decoder_feed_rate = decoder_feed_rate
    self.decoder_order = decoder_order
    self.aux_length = aux_length
    self.aux_bptt = aux_bptt
    self.encoder = encoders.TokenLSTM(vocab_size, channels, embed_dim,
                                      lstm_units,
                                      initialization=initialization,
                                      name='encoder')
    head_input_dim = lstm_units * (2 if head_input == 'state' else 1)
    self.head = heads.feed_forward(head_units, num_classes, head_input_dim,
                                   name='head', initialization=initialization)
    self.reconstructor = self.predictor = None
    if reconstruction:
      self.reconstructor = decoders.ReconstructionDecoder(
          vocab_size, channels, embed_dim, lstm_units, decoder_units,
          decoder_layers, decoder_head_units, decoder_init,
          decoder_embedding, decoder_unfed_input, initialization,
          name='reconstructor')
    if prediction:
      self.predictor = decoders.PredictionDecoder(
          vocab_size, channels, lstm_units, decoder_units, decoder_layers,
          decoder_head_units, initialization, name='predictor')
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
    inputs = tf.transpose(tokens, [1, 0, 2])
    cell, project = self.encoder.cell, self.encoder.projector()
    return self._classify(unroll.final_states(
        cell, project, inputs, lengths, self.bptt if training else None))

  def _classify(self, final_state: unroll.State) -> tf.Tensor:
    """Class logits from the state after the last step: the head reads h,
    or with head_input 'state' h and c (a closed output gate can hide in
    h what c holds)."""
    h, c = final_state
    return self.head(tf.concat([h, c], -1) if self.head_input == 'state'
                     else h)

  @property
  def auxiliary_objectives(self) -> Tuple[str, ...]:
    return tuple(name for name, decoder in (
        ('reconstruction', self.reconstructor),
        ('prediction', self.predictor)) if decoder is not None)

  def anchor_range(self, objective: str) -> Tuple[int, int]:
    """(low, margin): anchors of an example of length T lie in
    [low, T - margin]."""
    if objective == 'reconstruction':
      return self.aux_length, 0
    return 1, self.aux_length

  def objectives(self, tokens, lengths, labels,
                 anchors: Mapping[str, Tuple[tf.Tensor, tf.Tensor]],
                 supervised: bool = True,
                 feed_seed: Optional[tf.Tensor] = None
                 ) -> Dict[str, PerExample]:
    """Per-example loss and accuracy of each objective.

    Args:
      tokens: (B, T, C) int tokens; lengths: (B,); labels: (B,).
      anchors: for each auxiliary objective, (anchors (B, A), valid (B,))
        as drawn by `anchors.sample` over `anchor_range`.
      supervised: include the supervised objective (False while
        pretraining on the auxiliary losses alone).
      feed_seed: stateless seed of the reconstruction decoder's feed mask
        (each element read with probability `decoder_feed_rate`) and of
        the samples unfed elements read (`decoder_unfed_input='sampled'`);
        None feeds every element.

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
    inputs = tf.transpose(tokens, [1, 0, 2])
    lengths = tf.cast(lengths, tf.int32)
    names, windows = [], []
    if supervised:
      names.append('supervised')
      windows.append(unroll.Window.last_steps(lengths, self.bptt))
    for name in self.auxiliary_objectives:
      names.append(name)
      windows.append(self._auxiliary_window(name, anchors[name][0]))
    results = unroll.run_windows(
        self.encoder.cell, self.encoder.projector(), inputs, windows,
        [name == 'prediction' for name in names])
    outputs = {}
    for name, window, result in zip(names, windows, results):
      if name == 'supervised':
        logits = self._classify(result)
        outputs[name] = _Objective(
            losses.cross_entropy_and_correct(labels, logits), logits, None)
        continue
      steps = self.segment_steps(name, window.end)
      targets = unroll.gather_steps(inputs, window.example, steps)
      if name == 'reconstruction':
        feed = sample_seed = None
        if feed_seed is not None and self.decoder_feed_rate < 1:
          feed = decoders.feed_mask(self.aux_length - 1, tf.shape(steps)[1],
                                    self.decoder_feed_rate, feed_seed)
          sample_seed = tf.random.experimental.stateless_fold_in(feed_seed, 1)
        loss, accuracy, logits = self.reconstructor(
            result, targets, feed, self.encoder.embedding, sample_seed)
        steps = steps[1:]  # The first token is given, not predicted.
      else:
        loss, accuracy, logits = self.predictor(result[1], targets)
      outputs[name] = _Objective(
          _mean_over_anchors(loss, accuracy, anchors[name][1],
                             window.rows_per_example), logits, steps)
    return outputs

  def segment_steps(self, name: str, end: tf.Tensor) -> tf.Tensor:
    """(l, N): the step of token j of each row's segment, in the order
    its decoder reads and predicts them.

    Reconstruction: the l steps before the anchor `end`, oldest first
    (end - l + j) or, with decoder_order 'reverse', newest first
    (end - 1 - j). Prediction: end - l + 1 + j, the token each read output
    predicts.
    """
    j = tf.range(self.aux_length)[:, tf.newaxis]
    if name == 'reconstruction' and self.decoder_order == 'reverse':
      return end[tf.newaxis, :] - 1 - j
    first = end - self.aux_length + (name == 'prediction')
    return first[tf.newaxis, :] + j

  def _auxiliary_window(self, name: str,
                        anchors: tf.Tensor) -> unroll.Window:
    anchors = tf.cast(anchors, tf.int32)
    if name == 'reconstruction':
      # The main state at the anchor, backpropagated aux_bptt steps.
      lengths = tf.minimum(anchors, self.aux_bptt)
      return unroll.Window.per_example(anchors, lengths,
                                       tf.reduce_max(lengths))
    # The main outputs at positions a .. a+l-1: steps a-1 .. a+l-2.
    return unroll.Window.per_example(
        anchors + self.aux_length - 1,
        tf.fill(tf.shape(anchors), self.aux_length), self.aux_length)


def _mean_over_anchors(loss, accuracy, valid, rows_per_example) -> PerExample:
  mask = tf.cast(valid, tf.float32)
  return tuple(
      tf.reduce_mean(tf.reshape(v, [-1, rows_per_example]), axis=1) * mask
      for v in (loss, accuracy))
