"""What an auxiliary objective is: a decoder attached at sampled anchors.

An objective decides, for anchors drawn in its `anchor_range`, which
gradient window of the main LSTM it reads (`window`), which tokens it
scores (`segment_steps`) and how (`score`). The classifier runs every
objective's window in one pass (`unroll.run_windows`) and never branches on
what an objective is.

The decoder itself is a recurrent stack (`num_layers` x `units` of the
classifier's cell, an LSTM or a GRU, run as one `cores.StackedCore`: every
layer advances in the same loop) and a feed-forward head with a
`vocab_size`-way softmax per channel. Subclasses own the bottom layer and
decide what it reads and where its state starts; upper layers start from
zeros.
"""

import dataclasses
from typing import NamedTuple, Optional, Sequence, Tuple

import keras
import tensorflow as tf

from r_lstm import cells, configs, cores, distribute, encoders, heads
from r_lstm import initializers
from r_lstm import memory, unroll
from r_lstm import losses as losses_lib


def _of(cls, options) -> 'DecoderOptions':
  """From DecoderOptions, a mapping of its fields (a saved model config)
  or any object with those attributes (a `Config`)."""
  if isinstance(options, cls):
    return options
  get = (options.get if isinstance(options, dict)
         else lambda name, default: getattr(options, name, default))
  values = {field.name: get(field.name, field.default)
            for field in dataclasses.fields(cls)}
  return cls(**{name: tuple(value) if isinstance(value, list) else value
                for name, value in values.items()})


def _to_dict(self):
  return {name: list(value) if isinstance(value, tuple) else value
          for name, value in dataclasses.asdict(self).items()}


# The settings of the auxiliary decoders: the `objectives` section of
# `configs.Config`, field for field (see its help for what each means). A
# new decoder option is a field of that section, read where it is used.
DecoderOptions = dataclasses.make_dataclass(
    'DecoderOptions',
    [(field.name, field.type, dataclasses.field(default=field.default))
     for field in configs.section_fields('objectives')],
    frozen=True, namespace={'of': classmethod(_of), 'to_dict': _to_dict,
                            '__module__': __name__})


class Context(NamedTuple):
  """What an objective may read besides its own window.

  Attributes:
    main_embedding: the main LSTM's embedding table.
    feed_seed: stateless seed of any randomness in how a decoder reads its
      segment (None: read it the deterministic way).
  """
  main_embedding: Optional[tf.Tensor]
  feed_seed: Optional[tf.Tensor]


class Scored(NamedTuple):
  """An objective's result for each row (example x anchor)."""
  loss: tf.Tensor  # (N,)
  accuracy: tf.Tensor  # (N,)
  logits: tf.Tensor  # (L, N, C, V)
  steps: tf.Tensor  # (L, N) the positions the logits stand for.


def token_losses(logits: tf.Tensor, targets: tf.Tensor):
  """Cross-entropy and accuracy per row, averaged over steps and channels.

  Args:
    logits: (L, N, C, V).
    targets: (L, N, C) int tokens.

  Returns:
    (loss (N,), accuracy (N,)).
  """
  losses, correct = losses_lib.cross_entropy_and_correct(targets, logits)
  return (tf.reduce_mean(losses, axis=[0, 2]),
          tf.reduce_mean(correct, axis=[0, 2]))


class AuxiliaryDecoder(keras.layers.Layer):
  """The interface of an auxiliary objective, and the upper LSTM layers and
  softmax head its decoder shares with every other.

  Class attributes of a subclass:
    objective: its name in `registry.OBJECTIVES` and in metric names.
    attribute: the classifier attribute that holds it; the name its weights
      have in checkpoints, so it never changes.
    reads_outputs: its window returns the main LSTM's outputs over the
      window, not only the final state.
  """
  objective: str = ''
  attribute: str = ''
  reads_outputs: bool = False

  def __init__(self, vocab_size: int, channels: int, units: int,
               num_layers: int, head_units: Sequence[int],
               initialization: initializers.Initialization = initializers.KERAS,
               aux_length: int = 600, cell: str = 'lstm', rnn: str = 'auto',
               gradient: str = 'compiled', **kwargs):
    """`rnn` ('unroll' or 'keras', `configs.DECODER_RNNS`; 'auto', as
    models saved before runs resolved it hold, is resolved here by
    `distribute.decoder_rnn`) is how the teacher-forced stack runs
    (`keras_outputs`); with 'unroll',
    `gradient` (`configs.RNN_GRADIENTS`, `unroll.scan`) is how its
    gradient is computed."""
    super().__init__(**kwargs)
    self.rnn = distribute.decoder_rnn(rnn)
    self.gradient = gradient
    self.vocab_size = vocab_size
    self.channels = channels
    self.units = units
    self.num_layers = num_layers
    self.head_units = tuple(head_units)
    self.aux_length = aux_length
    self.cell_kind = cell
    self.initialization = initializers.Initialization.of(initialization)
    self.upper_cells = [cells.CELLS[cell](units, units, self.initialization,
                                           name=f'{cell}_{i + 1}')
                        for i in range(num_layers - 1)]
    self.head = heads.feed_forward(head_units, channels * vocab_size, units,
                                   name='head',
                                   initialization=self.initialization)

  @classmethod
  def from_options(cls, options: DecoderOptions, vocab_size: int,
                   channel_embedding: encoders.ChannelEmbedding,
                   main_units: int,
                   initialization: initializers.Initialization,
                   cell: str = 'lstm', gradient: str = 'compiled'
                   ) -> 'AuxiliaryDecoder':
    """The decoder a classifier with these sizes and this cell attaches;
    one that reads tokens embeds them as `channel_embedding` says."""
    raise NotImplementedError

  @classmethod
  def main_window_steps(cls, options: DecoderOptions) -> int:
    """Steps of the main LSTM one anchor backpropagates through (for the
    memory estimate)."""
    raise NotImplementedError

  @classmethod
  def memory_terms(cls, options: DecoderOptions, shape: memory.Shape,
                   rows: int, cell: str, main_units: int,
                   channel_embedding: encoders.ChannelEmbedding
                   ) -> memory.Terms:
    """This objective's share of one update with `rows` anchors in the
    batch: its weights, the main network's window behind each anchor, and
    its decoder's layers and softmax over the segment."""
    cell_class = cells.CELLS[cell]
    outputs = shape.channels * shape.vocab_size
    units = options.decoder_units
    weights = (channel_embedding.weight_count(shape.vocab_size)
               + options.decoder_layers * cell_class.weight_count(units, units)
               + memory.dense_weights((units, *options.decoder_head_units,
                                       outputs)))
    steps = min(options.aux_length, shape.max_length)
    window = min(cls.main_window_steps(options), shape.max_length)
    kept = (cell_class.window_bytes(rows, window, main_units)
            + options.decoder_layers * cell_class.window_bytes(rows, steps,
                                                               units)
            + 3 * rows * steps * (sum(options.decoder_head_units) + outputs)
            * memory.FLOAT_BYTES)
    return memory.Terms(weights, {
        f'{cls.objective} (batch_size x num_anchors x aux_length)': kept})

  def get_config(self):
    return {**super().get_config(), 'vocab_size': self.vocab_size,
            'channels': self.channels, 'units': self.units,
            'num_layers': self.num_layers, 'head_units': self.head_units,
            'initialization': self.initialization.to_dict(),
            'aux_length': self.aux_length, 'cell': self.cell_kind,
            'rnn': self.rnn, 'gradient': self.gradient}

  def anchor_range(self) -> Tuple[int, int]:
    """(low, margin): anchors of an example of length T lie in
    [low, T - margin]."""
    raise NotImplementedError

  def centred_anchor(self, length: int) -> int:
    """The anchor that centres the segment in a sequence of `length`
    (segment images)."""
    raise NotImplementedError

  def window(self, anchors: tf.Tensor) -> unroll.Window:
    """The main LSTM's gradient window of each (B, A) anchor."""
    raise NotImplementedError

  def segment_steps(self, end: tf.Tensor) -> tf.Tensor:
    """(l, N): the step of token j of each row's segment, in the order the
    decoder reads and predicts them, from the rows' window ends."""
    raise NotImplementedError

  def score(self, window_result, segment: tf.Tensor, steps: tf.Tensor,
            context: Context) -> Scored:
    """Scores the rows' segments (l, N, C) from the window's result (the
    state at its end, or with `reads_outputs` (state, outputs))."""
    raise NotImplementedError

  def stack(self, bottom_cell: cores.Core) -> cores.StackedCore:
    """The decoder's recurrent layers as one core: `bottom_cell`, then the
    upper layers."""
    return cores.StackedCore((bottom_cell, *self.upper_cells))

  def start_state(self, bottom_state: cores.State) -> cores.State:
    """The stack's state from the bottom layer's: upper layers from zeros."""
    rows = tf.shape(bottom_state[0])[0]
    return tuple(bottom_state) + tuple(
        part for cell in self.upper_cells for part in cell.zero_state(rows))

  @property
  def bottom_cell(self) -> cells.RecurrentCell:
    """The bottom layer's cell (its weights; what it reads is the
    subclass's)."""
    raise NotImplementedError

  def keras_outputs(self, bottom_inputs: tf.Tensor,
                    bottom_state: Optional[cores.State] = None
                    ) -> tf.Tensor:
    """The top layer's outputs (L, N, units) over dense bottom-layer inputs
    (L, N, bottom input size), through one Keras recurrent layer per
    decoder layer (`runs_keras_layers`): the bottom one from
    `bottom_state` (None: zeros), the others from zeros. On a GPU Keras
    runs each on cuDNN when its conditions hold, and they do here (Keras'
    activations, no dropout, no mask); elsewhere Keras' own loop. Equal to
    the `StackedCore` loop (`_logits`) to float rounding."""
    outputs = tf.transpose(bottom_inputs, [1, 0, 2])  # Keras: batch-major.
    for k, layer in enumerate(self.keras_layers):
      initial = list(bottom_state) if k == 0 and bottom_state else None
      outputs = layer(outputs, initial_state=initial)[0]
    return tf.transpose(outputs, [1, 0, 2])

  @property
  def runs_keras_layers(self) -> bool:
    return self.rnn == 'keras'

  @property
  def keras_layers(self):
    """The Keras recurrent layers `keras_outputs` runs, one per decoder
    layer (None without `runs_keras_layers`), made by
    `_attach_keras_layers`."""
    return self._keras_layer_list

  def _attach_keras_layers(self) -> None:
    """Makes a Keras recurrent layer per decoder layer, computing with that
    layer's own cell variables (the same objects, so an update changes
    both), when `runs_keras_layers`. Subclasses call it once their bottom
    cell exists, outside any `tf.function` (a Keras layer makes a seed
    variable when constructed). Held outside Keras' attribute tracking:
    the weights stay the cells', under the cells' checkpoint names."""
    layers = None
    if self.runs_keras_layers:
      layers = [cell.keras_layer()
                for cell in [self.bottom_cell] + self.upper_cells]
    object.__setattr__(self, '_keras_layer_list', layers)

  def _logits(self, bottom_cell: cores.Core, projected: tf.Tensor,
              bottom_state: cores.State) -> tf.Tensor:
    """Logits (L, N, C, V) from the bottom layer's projected inputs,
    through the `StackedCore` loop."""
    _, outputs = unroll.scan(self.stack(bottom_cell), projected,
                             self.start_state(bottom_state),
                             return_outputs=True, gradient=self.gradient)
    return self.head_logits(outputs)

  def head_logits(self, outputs: tf.Tensor) -> tf.Tensor:
    """Logits (L, N, C, V) from the top layer's outputs (L, N, units)."""
    logits = self.head(tf.reshape(outputs, [-1, self.units]))
    return tf.reshape(logits, tf.concat(
        [tf.shape(outputs)[:2], [self.channels, self.vocab_size]], axis=0))
