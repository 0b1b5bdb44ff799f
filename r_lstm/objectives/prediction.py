"""p-LSTM: predict the segment after each anchor from the main outputs."""

from typing import Sequence, Tuple

import keras
import tensorflow as tf

from r_lstm import cells, initializers, unroll
from r_lstm.objectives import base


@keras.saving.register_keras_serializable(package='r_lstm')
class PredictionDecoder(base.AuxiliaryDecoder):
  """p-LSTM: an LSTM stack on top of the main LSTM predicts what follows.

  The objective: from anchor a, the bottom layer reads the main LSTM's
  outputs at positions a .. a + l - 1 (each the state after the previous
  token; l = `aux_length`) and predicts the token at each of those
  positions; it starts from zeros. The gradient reaches the main LSTM
  through exactly the steps it reads.
  """
  objective = 'prediction'
  attribute = 'predictor'
  reads_outputs = True

  def __init__(self, vocab_size: int, channels: int, main_units: int,
               units: int, num_layers: int, head_units: Sequence[int],
               initialization: initializers.Initialization = initializers.KERAS,
               aux_length: int = 600, cell: str = 'lstm', rnn: str = 'auto',
               gradient: str = 'compiled', **kwargs):
    super().__init__(vocab_size, channels, units, num_layers, head_units,
                     initialization, aux_length, cell, rnn, gradient,
                     **kwargs)
    self.main_units = main_units
    self.bottom = cells.CELLS[cell](main_units, units, self.initialization,
                                     name=f'{cell}_0')
    self._attach_keras_layers()
    self.built = True

  @classmethod
  def from_options(cls, options, vocab_size, channel_embedding, main_units,
                   initialization, cell='lstm', gradient='compiled'):
    # It reads the main LSTM's outputs, not tokens: only the channels count.
    return cls(vocab_size, channel_embedding.channels, main_units,
               options.decoder_units,
               options.decoder_layers, options.decoder_head_units,
               initialization, aux_length=options.aux_length, cell=cell,
               rnn=options.decoder_rnn, gradient=gradient,
               name=cls.attribute)

  @classmethod
  def main_window_steps(cls, options):
    return options.aux_length

  @property
  def bottom_cell(self):
    return self.bottom

  def get_config(self):
    return {**super().get_config(), 'main_units': self.main_units}

  def anchor_range(self):
    return 1, self.aux_length

  def centred_anchor(self, length):
    return max(1, (length - self.aux_length) // 2)

  def window(self, anchors):
    """The main outputs at positions a .. a+l-1: steps a-1 .. a+l-2."""
    anchors = tf.cast(anchors, tf.int32)
    return unroll.Window.per_example(
        anchors + self.aux_length - 1,
        tf.fill(tf.shape(anchors), self.aux_length), self.aux_length)

  def segment_steps(self, end):
    """end - l + 1 + j: the token each read output predicts."""
    j = tf.range(self.aux_length)[:, tf.newaxis]
    return (end - self.aux_length + 1)[tf.newaxis, :] + j

  def score(self, window_result, segment, steps, context):
    del context  # Nothing but the main outputs is read.
    loss, accuracy, logits = self(window_result[1], segment)
    return base.Scored(loss, accuracy, logits, steps)

  def call(self, main_outputs: tf.Tensor, targets: tf.Tensor
           ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Scores the prediction of `targets` (l, N, C) from main outputs
    (l, N, main_units); returns (loss (N,), accuracy (N,), logits)."""
    if self.runs_keras_layers:
      logits = self.head_logits(self.keras_outputs(main_outputs))
    else:
      logits = self._logits(self.bottom, self.bottom.project(main_outputs),
                            self.bottom.zero_state(tf.shape(main_outputs)[1]))
    return (*base.token_losses(logits, targets), logits)
