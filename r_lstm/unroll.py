"""Time-major LSTM unroll with exact truncated-backpropagation windows.

This module owns the truncation rule of the whole project. A loss may
backpropagate into the LSTM only through a *window* of steps [start, end) of
one example. Windows are realised in two passes:

1. `capture_states` runs the LSTM over the sequence once, with no gradient,
   and records the carried state (h, c) of each example at every requested
   window start. Its results are wrapped in `tf.stop_gradient`, so no
   backward pass ever enters this loop and its activations are not kept.
2. `run_window` re-runs each window from its captured state, under the tape,
   as one dense batch: row r of a window batch reads example `example[r]` over
   [end[r] - length[r], end[r]).

`run_windows` does both for several window batches (the supervised window
and the auxiliary windows of every anchor) with a single capture pass.

Cutting the *carried state* is what truncates backpropagation; a
`tf.stop_gradient` on the outputs alone would not (the gradient would still
reach every earlier step through (h, c)). Because each window restarts from
its own captured state, the rule is exact even when windows of one example
overlap, and backward memory grows with the window length, not with the
sequence length.

Inputs are time-major, (T, B, ...), and reach the cell through a `project`
callable that maps one slice of inputs (..., B, ...) to the input half of the
gate pre-activations (..., B, 4 * units). For token inputs this is a row
gather from a precomputed (vocabulary x 4 * units) table, so embeddings are
never materialised for the whole sequence.
"""

import dataclasses
from typing import Callable, Optional, Sequence, Tuple

import keras
import tensorflow as tf

from r_lstm import initializers

State = Tuple[tf.Tensor, tf.Tensor]
Project = Callable[[tf.Tensor], tf.Tensor]


@keras.saving.register_keras_serializable(package='r_lstm')
class LSTMCell(keras.layers.Layer):
  """An LSTM cell with Keras' gate layout (i, f, c, o).

  The weights have the same shapes and meaning as `keras.layers.LSTM`'s
  (kernel, recurrent_kernel, bias), so weights can be copied between the
  two. The input matmul is separate from the recurrent step (`project` vs
  `step`) so that a whole window of inputs is projected in one matmul (or one
  table gather) outside the sequential loop. `initialization` chooses the
  starting distributions (Keras' by default; see `r_lstm.initializers`).
  """

  def __init__(self, input_dim: int, units: int,
               initialization: initializers.Initialization = initializers.KERAS,
               **kwargs):
    super().__init__(**kwargs)
    self.input_dim = input_dim
    self.units = units
    self.initialization = initializers.Initialization.of(initialization)
    kernel, recurrent, bias = self.initialization.lstm_initializers(
        input_dim, units)
    self.kernel = self.add_weight(
        shape=(input_dim, 4 * units), initializer=kernel, name='kernel')
    self.recurrent_kernel = self.add_weight(
        shape=(units, 4 * units), initializer=recurrent,
        name='recurrent_kernel')
    self.bias = self.add_weight(
        shape=(4 * units,), initializer=bias, name='bias')
    self.built = True

  def get_config(self):
    return {**super().get_config(), 'input_dim': self.input_dim,
            'units': self.units,
            'initialization': self.initialization.to_dict()}

  def project(self, inputs: tf.Tensor) -> tf.Tensor:
    """Input half of the gate pre-activations, bias included."""
    return tf.matmul(inputs, self.kernel) + self.bias

  def step(self, projected: tf.Tensor, state: State) -> State:
    """One recurrent step from projected inputs (B, 4 * units)."""
    h, c = state
    z = projected + tf.matmul(h, self.recurrent_kernel)
    i, f, g, o = tf.split(z, 4, axis=-1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    h = tf.sigmoid(o) * tf.tanh(c)
    return h, c

  def zero_state(self, batch_size) -> State:
    zeros = tf.zeros([batch_size, self.units])
    return zeros, zeros


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


def capture_states(cell: LSTMCell, project: Project, inputs: tf.Tensor,
                   positions: tf.Tensor) -> State:
  """States after the first `positions[b, k]` steps of example b, no gradient.

  Args:
    cell: the LSTM.
    project: maps an input slice (B, ...) to (B, 4 * units).
    inputs: time-major inputs (T, B, ...).
    positions: (B, K) int32 in [0, T]; position 0 gives the zero state.

  Returns:
    (h, c), each (B, K, units), wrapped in `tf.stop_gradient`. The loop runs
    only max(positions) steps.
  """
  positions = tf.cast(positions, tf.int32)
  batch_size = tf.shape(positions)[0]
  num_positions = tf.shape(positions)[1]
  num_steps = tf.reduce_max(tf.concat([tf.reshape(positions, [-1]), [0]], 0))
  captured_shape = [batch_size, num_positions, cell.units]
  h, c = cell.zero_state(batch_size)

  def body(t, h, c, captured_h, captured_c):
    h, c = cell.step(project(inputs[t]), (h, c))
    hit = tf.equal(positions, t + 1)[:, :, tf.newaxis]
    captured_h = tf.where(hit, h[:, tf.newaxis, :], captured_h)
    captured_c = tf.where(hit, c[:, tf.newaxis, :], captured_c)
    return t + 1, h, c, captured_h, captured_c

  _, _, _, captured_h, captured_c = tf.while_loop(
      lambda t, *_: t < num_steps, body,
      (tf.constant(0), h, c, tf.zeros(captured_shape), tf.zeros(captured_shape)))
  return tf.stop_gradient(captured_h), tf.stop_gradient(captured_c)


def run_window(cell: LSTMCell, project: Project, inputs: tf.Tensor,
               window: Window, start_state: State,
               return_outputs: bool = False):
  """Runs each window row from its start state, with gradient.

  Args:
    cell: the LSTM.
    project: maps inputs (..., N, ...) to (..., N, 4 * units).
    inputs: time-major inputs (T, B, ...).
    window: the rows to run.
    start_state: (h, c), each (N, units): the state at each row's start,
      normally `capture_states` at `window.start` (already stop-gradiented).
    return_outputs: also return the per-step h, (max_length, N, units),
      end-aligned: output j of row r is the state after step
      end[r] - max_length + j (zeros before the window starts).

  Returns:
    The final (h, c) of each row, and the outputs when asked for.
  """
  max_length = tf.cast(window.max_length, tf.int32)
  offsets = tf.range(max_length)[:, tf.newaxis]
  times = window.end[tf.newaxis, :] - max_length + offsets  # (L, N)
  active = times >= window.start[tf.newaxis, :]
  block = gather_steps(inputs, window.example, times)
  return scan(cell, project(block), start_state, active, return_outputs)


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


def scan(cell: LSTMCell, projected: tf.Tensor, state: State,
         active: Optional[tf.Tensor] = None, return_outputs: bool = False):
  """Runs `cell` over projected inputs (L, N, 4 * units) from `state`.

  Args:
    cell: the LSTM.
    projected: input projections of all L steps, computed outside the loop
      (one fused matmul or gather for the whole block).
    state: (h, c) to start from, each (N, units).
    active: optional (L, N) bool; where False the row keeps its state and
      outputs zeros.
    return_outputs: also return h of every step, (L, N, units).

  Returns:
    The final (h, c), and the outputs when asked for.
  """
  length = tf.shape(projected)[0]
  # Read the projections back through a TensorArray: slicing a tensor inside
  # the loop would make every backward step materialise a zero gradient of
  # the whole block (quadratic in L).
  projected = tf.TensorArray(tf.float32, size=length).unstack(projected)
  outputs = tf.TensorArray(tf.float32, size=length)

  def body(j, h, c, outputs):
    new_h, new_c = cell.step(projected.read(j), (h, c))
    if active is None:
      h, c = new_h, new_c
      output = h
    else:
      is_active = active[j][:, tf.newaxis]
      h = tf.where(is_active, new_h, h)
      c = tf.where(is_active, new_c, c)
      output = tf.where(is_active, h, tf.zeros_like(h))
    if return_outputs:
      outputs = outputs.write(j, output)
    return j + 1, h, c, outputs

  h, c = state
  _, h, c, outputs = tf.while_loop(
      lambda j, *_: j < length, body, (tf.constant(0), h, c, outputs))
  if return_outputs:
    return (h, c), outputs.stack()
  return h, c


def run_windows(cell: LSTMCell, project: Project, inputs: tf.Tensor,
                windows: Sequence[Window], return_outputs: Sequence[bool]):
  """Runs several window batches over the same inputs, each exactly.

  One gradient-free pass captures the start state of every row of every
  window; then each window batch runs with gradient (see `run_window`).

  Returns:
    One `run_window` result per window, in order.
  """
  starts = [tf.reshape(w.start, [-1, w.rows_per_example]) for w in windows]
  h, c = capture_states(cell, project, inputs, tf.concat(starts, axis=1))
  results = []
  column = 0
  for window, outputs in zip(windows, return_outputs):
    columns = slice(column, column + window.rows_per_example)
    column += window.rows_per_example
    start_state = (tf.reshape(h[:, columns], [-1, cell.units]),
                   tf.reshape(c[:, columns], [-1, cell.units]))
    results.append(run_window(cell, project, inputs, window, start_state,
                              outputs))
  return results


def final_states(cell: LSTMCell, project: Project, inputs: tf.Tensor,
                 lengths: tf.Tensor, bptt: Optional[int]) -> State:
  """Each example's state after its last step.

  Args:
    cell, project, inputs: as for `capture_states`.
    lengths: (B,) int32, each example's own length.
    bptt: gradient reaches only the last `bptt` steps of each example (full
      backpropagation when bptt >= length); None means no gradient at all,
      the cheapest forward pass (evaluation).
  """
  lengths = tf.cast(lengths, tf.int32)
  if bptt is None:
    h, c = capture_states(cell, project, inputs, lengths[:, tf.newaxis])
    return h[:, 0], c[:, 0]
  [state] = run_windows(cell, project, inputs, [Window.last_steps(lengths, bptt)],
                        [False])
  return state
