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

The recurrent network is a core (`r_lstm.cores`: `project`, `step`,
`sequence`, `zero_state`, `output`); a state is a tuple of (B, size)
tensors, so the unroll never names h or c.

How the windows' gradients are computed is `gradient`
(`configs.RNN_GRADIENTS`): 'compiled' and 'sequence' run each window
through the cores' `sequence` (the hand-written backward pass; 'compiled'
with the cells' compiled kernels where they apply, the fastest); 'autodiff'
lets TensorFlow differentiate the step loop. All compute the same values
and truncate the same way.
"""

import dataclasses
from typing import Optional, Sequence

import tensorflow as tf

from r_lstm.cores import Core, State

# The gradients that run a window through the core's `sequence`.
SEQUENCE_GRADIENTS = ('compiled', 'sequence')
# Steps a compiled capture pass projects and runs per call: the projected
# block (chunk x B x gates) stays small however long the sequence is.
CAPTURE_CHUNK = 128

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


def capture_states(core: Core, inputs: tf.Tensor, positions: tf.Tensor,
                   compiled: bool = False) -> State:
  """States after the first `positions[b, k]` steps of example b, no gradient.

  Args:
    core: the recurrent network.
    inputs: time-major inputs (T, B, ...).
    positions: (B, K) int32 in [0, T]; position 0 gives the zero state.
    compiled: run the steps by the core's compiled kernel where it has one
      (`core.compiled_states`), `CAPTURE_CHUNK` steps per call.

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
  run_states = core.compiled_states() if compiled else None
  if run_states:
    captured = _capture_in_chunks(core, run_states, inputs, positions,
                                  num_steps, state, captured)
    return tuple(tf.stop_gradient(part) for part in captured)

  def body(t, state, captured):
    state = tuple(core.step(core.project(inputs[t]), state))
    hit = tf.equal(positions, t + 1)[:, :, tf.newaxis]
    captured = tuple(tf.where(hit, part[:, tf.newaxis, :], kept)
                     for part, kept in zip(state, captured))
    return t + 1, state, captured

  _, _, captured = tf.while_loop(
      lambda t, *_: t < num_steps, body, (tf.constant(0), state, captured))
  return tuple(tf.stop_gradient(part) for part in captured)


def _capture_in_chunks(core, run_states, inputs, positions, num_steps, state,
                       captured):
  """`capture_states`' loop, a chunk of steps per `run_states` call: each
  chunk's states (chunk + 1, B, size) give the captures that fall in it."""
  examples = tf.broadcast_to(tf.range(tf.shape(positions)[0])[:, tf.newaxis],
                             tf.shape(positions))

  def body(start, state, captured):
    steps = tf.minimum(CAPTURE_CHUNK, num_steps - start)
    states = run_states(core.project(inputs[start:start + steps]), state)
    offset = positions - start  # Index into the chunk's states.
    hit = ((offset > 0) & (offset <= steps))[:, :, tf.newaxis]
    index = tf.stack([tf.clip_by_value(offset, 0, steps), examples], -1)
    captured = tuple(tf.where(hit, tf.gather_nd(part, index), kept)
                     for part, kept in zip(states, captured))
    return start + steps, tuple(part[-1] for part in states), captured

  _, _, captured = tf.while_loop(
      lambda start, *_: start < num_steps, body,
      (tf.constant(0), state, captured))
  return captured


def run_window(core: Core, inputs: tf.Tensor, window: Window,
               start_state: State, return_outputs: bool = False,
               gradient: str = 'compiled'):
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
    gradient: one of `configs.RNN_GRADIENTS`.

  Returns:
    The final state of each row, and the outputs when asked for.
  """
  max_length = tf.cast(window.max_length, tf.int32)
  offsets = tf.range(max_length)[:, tf.newaxis]
  times = window.end[tf.newaxis, :] - max_length + offsets  # (L, N)
  active = times >= window.start[tf.newaxis, :]
  block = gather_steps(inputs, window.example, times)
  return scan(core, core.project(block), start_state, active, return_outputs,
              gradient)


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
         active: Optional[tf.Tensor] = None, return_outputs: bool = False,
         gradient: str = 'compiled'):
  """Runs `core` over projected inputs (L, N, gates) from `state`.

  Args:
    core: the recurrent network (`sequence`, or `step` and `output` with
      gradient 'autodiff').
    projected: input projections of all L steps, computed outside the loop
      (one fused matmul or gather for the whole block).
    state: the state to start from, each part (N, size).
    active: optional (L, N) bool; where False the row keeps its state and
      outputs zeros.
    return_outputs: also return the output of every step, (L, N, units).
    gradient: 'compiled' or 'sequence' (the core's hand-written backward
      pass, with compiled kernels or TensorFlow loops) or 'autodiff'
      (TensorFlow differentiates the step loop below).

  Returns:
    The final state, and the outputs when asked for.
  """
  if gradient in SEQUENCE_GRADIENTS:
    state, outputs = core.sequence(projected, tuple(state), active,
                                   compiled=gradient == 'compiled')
    return (state, outputs) if return_outputs else state
  if gradient != 'autodiff':
    raise ValueError(f"gradient must be 'compiled', 'sequence' or "
                     f"'autodiff', got {gradient!r}")
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
                return_outputs: Sequence[bool], gradient: str = 'compiled'):
  """Runs several window batches over the same inputs, each exactly.

  One gradient-free pass captures the start state of every row of every
  window; then the windows run with gradient (see `run_window`). With
  the `sequence` gradients all window batches run as one: their rows stacked,
  end-aligned over the longest window (a shorter row holds its captured
  state until its window begins), so that the sequential loop runs once
  over more rows instead of once per window batch.

  Returns:
    One `run_window` result per window, in order.
  """
  starts = [tf.reshape(w.start, [-1, w.rows_per_example]) for w in windows]
  captured = capture_states(core, inputs, tf.concat(starts, axis=1),
                            compiled=gradient == 'compiled')
  start_states = []
  column = 0
  for window in windows:
    columns = slice(column, column + window.rows_per_example)
    column += window.rows_per_example
    start_states.append(tuple(
        tf.reshape(part[:, columns], [-1, part.shape[-1]])
        for part in captured))
  if gradient not in SEQUENCE_GRADIENTS or len(windows) == 1:
    return [run_window(core, inputs, window, start_state, outputs, gradient)
            for window, start_state, outputs in zip(windows, start_states,
                                                    return_outputs)]
  joint = Window(
      example=tf.concat([w.example for w in windows], 0),
      end=tf.concat([w.end for w in windows], 0),
      length=tf.concat([w.length for w in windows], 0),
      max_length=tf.reduce_max(tf.stack([tf.cast(w.max_length, tf.int32)
                                         for w in windows])))
  joint_start = tuple(tf.concat(parts, 0) for parts in zip(*start_states))
  result = run_window(core, inputs, joint, joint_start, any(return_outputs),
                      gradient)
  final, outputs = result if any(return_outputs) else (result, None)
  rows = [tf.shape(w.example)[0] for w in windows]
  finals = zip(*(tf.split(part, rows) for part in final))
  if outputs is not None:
    outputs = tf.split(outputs, rows, axis=1)
  results = []
  for k, (window, window_final) in enumerate(zip(windows, finals)):
    if return_outputs[k]:
      # End-aligned: this window's outputs are the joint run's last steps.
      steps = tf.cast(window.max_length, tf.int32)
      results.append((window_final, outputs[k][joint.max_length - steps:]))
    else:
      results.append(window_final)
  return results


def final_states(core: Core, inputs: tf.Tensor, lengths: tf.Tensor,
                 bptt: Optional[int], gradient: str = 'compiled') -> State:
  """Each example's state after its last step.

  Args:
    core, inputs: as for `capture_states`.
    lengths: (B,) int32, each example's own length.
    bptt: gradient reaches only the last `bptt` steps of each example (full
      backpropagation when bptt >= length); None means no gradient at all,
      the cheapest forward pass (evaluation).
    gradient: one of `configs.RNN_GRADIENTS`.
  """
  lengths = tf.cast(lengths, tf.int32)
  if bptt is None:
    captured = capture_states(core, inputs, lengths[:, tf.newaxis])
    return tuple(part[:, 0] for part in captured)
  [state] = run_windows(core, inputs, [Window.last_steps(lengths, bptt)],
                        [False], gradient)
  return state
