"""Time-major recurrent unroll with exact truncated-backpropagation windows.

This module owns the truncation rule of the whole project. A loss may
backpropagate into the recurrent network only through a *window* of steps
[start, end) of one example. Windows are realised in two passes:

1. `capture_states` runs the network over the sequence once, with no
   gradient, and records the carried state (an LSTM's (h, c)) of each
   example at every requested
   window start. Its results are wrapped in `tf.stop_gradient`, so no
   backward pass ever enters this loop and its activations are not kept.
2. `run_window` re-runs each window from its captured state, under the tape,
   as one dense batch: row r of a window batch reads example `example[r]` over
   [end[r] - length[r], end[r]).

`run_windows` does both for several window batches (the supervised window
and the auxiliary windows of every anchor) with a single capture pass.

Cutting the *carried state* is what truncates backpropagation; a
`tf.stop_gradient` on the outputs alone would not (the gradient would still
reach every earlier step through the state). Because each window restarts from
its own captured state, the rule is exact even when windows of one example
overlap, and backward memory grows with the window length, not with the
sequence length.

The recurrent network is a *core* (the shape of Sonnet's `RNNCore`):
`project` maps one slice of time-major inputs (..., B, ...) to the input half
of the gate pre-activations, `step` advances the state from projected inputs,
`zero_state` starts it and `output` reads what the next layer sees. A state
is a tuple of (B, size) tensors: (h, c) for `LSTMCell`, (h,) for `GRUCell`.
Projecting outside the loop lets a whole window be projected in one matmul,
or for token inputs one row gather from a precomputed (vocabulary x gates)
table (`ProjectedCore`), so embeddings are never materialised for the whole
sequence.
"""

import dataclasses
from typing import Callable, Optional, Protocol, Sequence, Tuple

import keras
import tensorflow as tf

from r_lstm import initializers

State = Tuple[tf.Tensor, ...]
Project = Callable[[tf.Tensor], tf.Tensor]


class Core(Protocol):
  """What the unroll needs of a recurrent network."""
  units: int
  state_names: Tuple[str, ...]  # One (N, size) part of the state each.

  def project(self, inputs: tf.Tensor) -> tf.Tensor:
    """Input half of the gate pre-activations, (..., N, gates)."""

  def step(self, projected: tf.Tensor, state: State) -> State:
    """The next state from projected inputs (N, gates)."""

  def zero_state(self, batch_size) -> State:
    """The state before the first step."""

  def output(self, state: State) -> tf.Tensor:
    """What a step emits: (N, units)."""


class RecurrentCell(keras.layers.Layer):
  """What `LSTMCell` and `GRUCell` share: a kernel (input_dim, gates * u),
  a recurrent kernel (u, gates * u) and a bias; the input matmul separate
  from the recurrent step (`project` vs `step`) so that a whole window of
  inputs is projected in one matmul (or one table gather) outside the
  sequential loop; a zero state of one (N, u) part per `state_names`; and h
  as the output. `initialization` chooses the starting distributions
  (Keras' by default; see `r_lstm.initializers`).
  """
  state_names: Tuple[str, ...] = ()
  gates = 0  # Gate blocks of `units` columns in the kernels.
  keras_class = None  # The Keras layer with the same weights and step.

  def __init__(self, input_dim: int, units: int,
               initialization: initializers.Initialization = initializers.KERAS,
               **kwargs):
    super().__init__(**kwargs)
    self.input_dim = input_dim
    self.units = units
    self.initialization = initializers.Initialization.of(initialization)
    kernel, recurrent, bias = self._initializers(input_dim, units)
    self.kernel = self.add_weight(
        shape=(input_dim, self.gates * units), initializer=kernel,
        name='kernel')
    self.recurrent_kernel = self.add_weight(
        shape=(units, self.gates * units), initializer=recurrent,
        name='recurrent_kernel')
    self.bias = self.add_weight(
        shape=self._bias_shape(units), initializer=bias, name='bias')
    self.built = True

  def _initializers(self, input_dim: int, units: int):
    """(kernel, recurrent kernel, bias) initializers."""
    raise NotImplementedError

  def _bias_shape(self, units: int) -> Tuple[int, ...]:
    raise NotImplementedError

  @property
  def input_bias(self) -> tf.Tensor:
    """The bias of the input projection: a step that reads nothing."""
    raise NotImplementedError

  def get_config(self):
    return {**super().get_config(), 'input_dim': self.input_dim,
            'units': self.units,
            'initialization': self.initialization.to_dict()}

  def computed(self, weight) -> tf.Tensor:
    """`weight` in the compute dtype of the layer's dtype policy (float32
    weights, bfloat16 or float16 arithmetic under mixed precision). The
    unroll reads weights outside the layer's own call, where Keras does not
    cast them."""
    return tf.cast(weight, self.compute_dtype)

  def keras_layer(self) -> keras.layers.Layer:
    """The Keras recurrent layer of this cell's kind, computing with this
    cell's own variables (the same objects, not copies), returning the
    sequence and the final state. Keras runs it on cuDNN on a GPU when
    its conditions hold."""
    # Its initializers and seed are never used (the weights are the cell's,
    # no dropout); zeros and a fixed seed draw nothing from the random state
    # that the weights made after it start from.
    layer = self.keras_class(
        self.units, return_sequences=True, return_state=True,
        kernel_initializer='zeros', recurrent_initializer='zeros',
        bias_initializer='zeros', seed=0, dtype=self.dtype_policy)
    layer.cell.kernel = self.kernel
    layer.cell.recurrent_kernel = self.recurrent_kernel
    layer.cell.bias = self.bias
    layer.cell.built = layer.built = True  # Its weights are set: no build.
    return layer

  def project(self, inputs: tf.Tensor) -> tf.Tensor:
    """Input half of the gate pre-activations, the input bias included."""
    return (tf.matmul(tf.cast(inputs, self.compute_dtype),
                      self.computed(self.kernel)) + self.input_bias)

  def zero_state(self, batch_size) -> State:
    return tuple(tf.zeros([batch_size, self.units], self.compute_dtype)
                 for _ in self.state_names)

  def output(self, state: State) -> tf.Tensor:
    return state[0]


@keras.saving.register_keras_serializable(package='r_lstm')
class LSTMCell(RecurrentCell):
  """An LSTM cell with Keras' gate layout (i, f, c, o); its state is (h, c).

  The weights have the same shapes and meaning as `keras.layers.LSTM`'s
  (kernel, recurrent_kernel, bias), so weights can be copied between the
  two.
  """
  state_names = ('h', 'c')
  gates = 4
  keras_class = keras.layers.LSTM

  def _initializers(self, input_dim, units):
    return self.initialization.lstm_initializers(input_dim, units)

  def _bias_shape(self, units):
    return (4 * units,)

  @property
  def input_bias(self) -> tf.Tensor:
    return self.computed(self.bias)

  def step(self, projected: tf.Tensor, state: State) -> State:
    """One recurrent step from projected inputs (B, 4 * units)."""
    h, c = state
    z = projected + tf.matmul(h, self.computed(self.recurrent_kernel))
    i, f, g, o = tf.split(z, 4, axis=-1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    h = tf.sigmoid(o) * tf.tanh(c)
    return h, c


@keras.saving.register_keras_serializable(package='r_lstm')
class GRUCell(RecurrentCell):
  """A GRU cell with Keras' layout: gates (z, r, h), the reset gate applied
  after the recurrent matmul (`keras.layers.GRU(reset_after=True)`, which is
  also PyTorch's `nn.GRU`), bias (2, 3 * units): input and recurrent.

  Its state is (h,). The weights can be copied to and from
  `keras.layers.GRU`.
  """
  state_names = ('h',)
  gates = 3
  keras_class = keras.layers.GRU  # reset_after=True, Keras' default.

  def _initializers(self, input_dim, units):
    return self.initialization.gru_initializers(input_dim, units)

  def _bias_shape(self, units):
    return (2, 3 * units)

  @property
  def input_bias(self) -> tf.Tensor:
    return self.computed(self.bias[0])

  def step(self, projected: tf.Tensor, state: State) -> State:
    """One recurrent step from projected inputs (B, 3 * units)."""
    (h,) = state
    recurrent = (tf.matmul(h, self.computed(self.recurrent_kernel))
                 + self.computed(self.bias[1]))
    x_z, x_r, x_h = tf.split(projected, 3, axis=-1)
    h_z, h_r, h_h = tf.split(recurrent, 3, axis=-1)
    z = tf.sigmoid(x_z + h_z)
    r = tf.sigmoid(x_r + h_r)
    candidate = tf.tanh(x_h + r * h_h)
    return (z * h + (1 - z) * candidate,)


# --cell -> the recurrent cell of the encoder and the decoders.
CELLS = {'lstm': LSTMCell, 'gru': GRUCell}


@dataclasses.dataclass(frozen=True)
class ProjectedCore:
  """`cell` reading its inputs through another projection (a token table
  gather in place of the cell's own matmul)."""
  cell: Core
  project: Project

  @property
  def units(self) -> int:
    return self.cell.units

  def step(self, projected: tf.Tensor, state: State) -> State:
    return self.cell.step(projected, state)

  def zero_state(self, batch_size) -> State:
    return self.cell.zero_state(batch_size)

  def output(self, state: State) -> tf.Tensor:
    return self.cell.output(state)

  @property
  def state_names(self) -> Tuple[str, ...]:
    return self.cell.state_names


@dataclasses.dataclass(frozen=True)
class StackedCore:
  """Cores stacked in depth (Sonnet's `DeepRNN`): each step runs the bottom
  core on the step's projected input, then every core above on the output
  of the one below (through its own `project`). The state is the layers'
  state parts in order, bottom first.

  One loop over all layers, instead of one `scan` per layer with each upper
  layer's input projected as a block: layer k's step j and layer k + 1's
  step j - 1 are independent, so TensorFlow's loop runs them at the same
  time, and no (L, N, gates) block of an upper layer is stored.
  """
  cores: Tuple[Core, ...]

  @property
  def units(self) -> int:
    return self.cores[-1].units

  @property
  def state_names(self) -> Tuple[str, ...]:
    return tuple(f'{k}/{name}' for k, core in enumerate(self.cores)
                 for name in core.state_names)

  def project(self, inputs: tf.Tensor) -> tf.Tensor:
    return self.cores[0].project(inputs)

  def layer_states(self, state: State) -> Tuple[State, ...]:
    """`state` split into each core's own state, bottom first."""
    states, first = [], 0
    for core in self.cores:
      states.append(tuple(state[first:first + len(core.state_names)]))
      first += len(core.state_names)
    return tuple(states)

  def step(self, projected: tf.Tensor, state: State) -> State:
    layers = self.layer_states(state)
    part = tuple(self.cores[0].step(projected, layers[0]))
    new_state = list(part)
    for below, core, layer in zip(self.cores, self.cores[1:], layers[1:]):
      part = tuple(core.step(core.project(below.output(part)), layer))
      new_state.extend(part)
    return tuple(new_state)

  def zero_state(self, batch_size) -> State:
    return tuple(part for core in self.cores
                 for part in core.zero_state(batch_size))

  def output(self, state: State) -> tf.Tensor:
    return self.cores[-1].output(self.layer_states(state)[-1])


@dataclasses.dataclass(frozen=True)
class Window:
  """A dense batch of gradient windows, one row per window.

  Row r backpropagates through steps [end[r] - length[r], end[r]) of example
  `example[r]`. All rows run `max_length` steps, aligned at their ends; a row
  with a shorter window holds its captured state until its window begins.

  Rows are example-major with `rows_per_example` rows each (row r reads
  example r // rows_per_example), so that one gradient-free pass over the B
  examples can capture the start states of every row (`run_windows`).

  Attributes:
    example: (N,) int32, the example each row reads.
    end: (N,) int32, exclusive end of each window (the state after step
      end - 1 is the row's final state).
    length: (N,) int32, 0 <= length <= min(end, max_length).
    max_length: scalar int32, steps the dense pass runs.
    rows_per_example: rows of each example.
  """
  example: tf.Tensor
  end: tf.Tensor
  length: tf.Tensor
  max_length: tf.Tensor
  rows_per_example: int = 1

  @property
  def start(self) -> tf.Tensor:
    return self.end - self.length

  @classmethod
  def per_example(cls, end: tf.Tensor, length: tf.Tensor,
                  max_length) -> 'Window':
    """Rows from (B, A) ends and lengths: A windows for each of B examples."""
    end, length = tf.cast(end, tf.int32), tf.cast(length, tf.int32)
    batch_size, rows_per_example = tf.shape(end)[0], end.shape[1]
    return cls(
        example=tf.repeat(tf.range(batch_size), rows_per_example),
        end=tf.reshape(end, [-1]),
        length=tf.reshape(length, [-1]),
        max_length=tf.cast(max_length, tf.int32),
        rows_per_example=rows_per_example)

  @classmethod
  def last_steps(cls, lengths: tf.Tensor, bptt: int) -> 'Window':
    """The supervised window: the last `bptt` steps of each example."""
    lengths = tf.cast(lengths, tf.int32)[:, tf.newaxis]
    window_lengths = tf.minimum(lengths, bptt)
    return cls.per_example(lengths, window_lengths,
                           tf.reduce_max(window_lengths))


def capture_states(core: Core, inputs: tf.Tensor,
                   positions: tf.Tensor) -> State:
  """States after the first `positions[b, k]` steps of example b, no gradient.

  Args:
    core: the recurrent network.
    inputs: time-major inputs (T, B, ...).
    positions: (B, K) int32 in [0, T]; position 0 gives the zero state.

  Returns:
    The state, each part (B, K, size), wrapped in `tf.stop_gradient`. The
    loop runs only max(positions) steps.
  """
  positions = tf.cast(positions, tf.int32)
  batch_size = tf.shape(positions)[0]
  num_positions = tf.shape(positions)[1]
  num_steps = tf.reduce_max(tf.concat([tf.reshape(positions, [-1]), [0]], 0))
  state = tuple(core.zero_state(batch_size))
  captured = tuple(tf.zeros([batch_size, num_positions, part.shape[-1]],
                            part.dtype)
                   for part in state)

  def body(t, state, captured):
    state = tuple(core.step(core.project(inputs[t]), state))
    hit = tf.equal(positions, t + 1)[:, :, tf.newaxis]
    captured = tuple(tf.where(hit, part[:, tf.newaxis, :], kept)
                     for part, kept in zip(state, captured))
    return t + 1, state, captured

  _, _, captured = tf.while_loop(
      lambda t, *_: t < num_steps, body, (tf.constant(0), state, captured))
  return tuple(tf.stop_gradient(part) for part in captured)


def run_window(core: Core, inputs: tf.Tensor, window: Window,
               start_state: State, return_outputs: bool = False):
  """Runs each window row from its start state, with gradient.

  Args:
    core: the recurrent network.
    inputs: time-major inputs (T, B, ...).
    window: the rows to run.
    start_state: the state at each row's start, each part (N, size),
      normally `capture_states` at `window.start` (already stop-gradiented).
    return_outputs: also return the per-step outputs, (max_length, N,
      units), end-aligned: output j of row r is the output after step
      end[r] - max_length + j (zeros before the window starts).

  Returns:
    The final state of each row, and the outputs when asked for.
  """
  max_length = tf.cast(window.max_length, tf.int32)
  offsets = tf.range(max_length)[:, tf.newaxis]
  times = window.end[tf.newaxis, :] - max_length + offsets  # (L, N)
  active = times >= window.start[tf.newaxis, :]
  block = gather_steps(inputs, window.example, times)
  return scan(core, core.project(block), start_state, active, return_outputs)


def gather_steps(inputs: tf.Tensor, examples: tf.Tensor,
                 times: tf.Tensor) -> tf.Tensor:
  """Block[j, r] = inputs[times[j, r], examples[r]]; times clipped to [0, T).

  Args:
    inputs: time-major (T, B, ...).
    examples: (N,) example of each row.
    times: (L, N) step of each row at each block position.
  """
  examples = tf.broadcast_to(examples[tf.newaxis, :], tf.shape(times))
  times = tf.clip_by_value(times, 0, tf.shape(inputs)[0] - 1)
  return tf.gather_nd(inputs, tf.stack([times, examples], axis=-1))


def scan(core: Core, projected: tf.Tensor, state: State,
         active: Optional[tf.Tensor] = None, return_outputs: bool = False):
  """Runs `core` over projected inputs (L, N, gates) from `state`.

  Args:
    core: the recurrent network (only `step` and `output` are used).
    projected: input projections of all L steps, computed outside the loop
      (one fused matmul or gather for the whole block).
    state: the state to start from, each part (N, size).
    active: optional (L, N) bool; where False the row keeps its state and
      outputs zeros.
    return_outputs: also return the output of every step, (L, N, units).

  Returns:
    The final state, and the outputs when asked for.
  """
  length = tf.shape(projected)[0]
  # Read the projections back through a TensorArray: slicing a tensor inside
  # the loop would make every backward step materialise a zero gradient of
  # the whole block (quadratic in L).
  dtype = projected.dtype  # The compute dtype (`RecurrentCell.computed`).
  projected = tf.TensorArray(dtype, size=length).unstack(projected)
  outputs = tf.TensorArray(dtype, size=length)

  def body(j, state, outputs):
    new_state = tuple(core.step(projected.read(j), state))
    if active is None:
      state = new_state
      output = core.output(state)
    else:
      is_active = active[j][:, tf.newaxis]
      state = tuple(tf.where(is_active, new, old)
                    for new, old in zip(new_state, state))
      output = core.output(state)
      output = tf.where(is_active, output, tf.zeros_like(output))
    if return_outputs:
      outputs = outputs.write(j, output)
    return j + 1, state, outputs

  _, state, outputs = tf.while_loop(
      lambda j, *_: j < length, body,
      (tf.constant(0), tuple(state), outputs))
  if return_outputs:
    return state, outputs.stack()
  return state


def run_windows(core: Core, inputs: tf.Tensor, windows: Sequence[Window],
                return_outputs: Sequence[bool]):
  """Runs several window batches over the same inputs, each exactly.

  One gradient-free pass captures the start state of every row of every
  window; then each window batch runs with gradient (see `run_window`).

  Returns:
    One `run_window` result per window, in order.
  """
  starts = [tf.reshape(w.start, [-1, w.rows_per_example]) for w in windows]
  captured = capture_states(core, inputs, tf.concat(starts, axis=1))
  results = []
  column = 0
  for window, outputs in zip(windows, return_outputs):
    columns = slice(column, column + window.rows_per_example)
    column += window.rows_per_example
    start_state = tuple(tf.reshape(part[:, columns], [-1, part.shape[-1]])
                        for part in captured)
    results.append(run_window(core, inputs, window, start_state, outputs))
  return results


def final_states(core: Core, inputs: tf.Tensor, lengths: tf.Tensor,
                 bptt: Optional[int]) -> State:
  """Each example's state after its last step.

  Args:
    core, inputs: as for `capture_states`.
    lengths: (B,) int32, each example's own length.
    bptt: gradient reaches only the last `bptt` steps of each example (full
      backpropagation when bptt >= length); None means no gradient at all,
      the cheapest forward pass (evaluation).
  """
  lengths = tf.cast(lengths, tf.int32)
  if bptt is None:
    captured = capture_states(core, inputs, lengths[:, tf.newaxis])
    return tuple(part[:, 0] for part in captured)
  [state] = run_windows(core, inputs, [Window.last_steps(lengths, bptt)],
                        [False])
  return state
