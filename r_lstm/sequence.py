"""A recurrent cell over a whole sequence, with a hand-written backward pass.

TensorFlow's gradient of a step loop (`unroll.scan` with
`rnn_gradient='autodiff'`) does, at every backward step, the step's weight
gradient matmul and its accumulation, and keeps every op's inputs. `run`
is organised the way cuDNN and oneDNN organise a recurrent layer instead:

- forward: the loop does only `h @ W_h` and the gates (the input
  projections of all steps come in as one block), and keeps the activated
  gates and the states;
- backward: a reverse loop computes only the gate gradients and
  `dh = dz @ W_hᵀ`; after it the recurrent kernel's gradient is one large
  matmul over all steps (`H_beforeᵀ dZ`) and the input projections'
  gradient is the stacked dZ, which the caller's projection turns into the
  input kernel's gradient as one matmul (or table scatter) by autodiff.

The step math is the cell's own (`forward_step`, `backward_step`), so the
forward values are those of `cell.step` and the tests hold the backward
pass to TensorFlow's gradient of the same steps.

With `compiled`, a cell with a compiled kernel (`cell.compiled_kernel`,
`r_lstm.compiled`) runs both loops as one op each instead of a
`tf.while_loop` of small ops: the same math, op for op, with the rows
split over the intra-op threads. It applies to float32 on a CPU (elsewhere,
or where the kernel cannot be built, the TensorFlow loops run).

A hand-written gradient rather than a library layer: `keras.layers.LSTM`
on a CPU differentiates its own step loop (no faster here), it cannot hold
a row's state over the steps outside its window (`active`), and it exposes
no per-step backward to keep truncation exact.
"""

from typing import Optional, Tuple

import tensorflow as tf

from r_lstm import compiled as compiled_kernels

State = Tuple[tf.Tensor, ...]


def run(cell, projected: tf.Tensor, state: State,
        active: Optional[tf.Tensor] = None, compiled: bool = False):
  """Runs `cell` over projected inputs from `state`.

  Args:
    cell: a `cells.RecurrentCell` (its `forward_step`, `backward_step`,
      `recurrent_weights`, `saved_gates` and `units`).
    projected: (L, N, gates * units) input projections of all L steps, in
      the cell's compute dtype.
    state: the state to start from, each part (N, units).
    active: optional (L, N) bool; where False the row keeps its state and
      outputs zeros (a window that has not started yet).
    compiled: run the loops as the cell's compiled kernel where it applies.

  Returns:
    (final state, outputs (L, N, units)); the gradient with respect to the
    projections, the start state and the recurrent weights is the
    hand-written one.
  """
  state = tuple(state)
  weights = tuple(cell.recurrent_weights())
  num_parts = len(state)
  ops = compiled_ops(cell, projected.dtype) if compiled else None

  @tf.custom_gradient
  def kernel(projected, *state_and_weights):
    start, weights = (state_and_weights[:num_parts],
                      state_and_weights[num_parts:])
    if ops:
      final, h_states, kept, saved = _compiled_forward(ops, projected, start,
                                                       weights, active)
    else:
      final, h_states, kept, saved = _forward(cell, projected, start,
                                              weights, active)
    outputs = h_states[1:]
    if active is not None:
      outputs = tf.where(active[:, :, tf.newaxis], outputs,
                         tf.zeros_like(outputs))

    def grad(*upstream):
      d_final = tuple(_or_zeros(d, part)
                      for d, part in zip(upstream[:num_parts], final))
      d_outputs = _or_zeros(upstream[num_parts], outputs)
      if ops:
        return _compiled_backward(ops, h_states, kept, saved, weights,
                                  active, d_final, d_outputs)
      return _backward(cell, projected, h_states, kept, saved, weights,
                       active, d_final, d_outputs)

    return (*final, outputs), grad

  *final, outputs = kernel(projected, *state, *weights)
  return tuple(final), outputs


def compiled_ops(cell, dtype: tf.DType):
  """The cell's compiled kernel, if it applies to `dtype` here, else
  None."""
  if (cell.compiled_kernel is None or dtype != tf.float32 or
      tf.config.list_logical_devices('GPU')):
    return None
  return compiled_kernels.load(cell.compiled_kernel)


def states(cell, ops, projected: tf.Tensor, state: State) -> State:
  """Every state of `cell` over projected inputs (L, N, gates * units),
  each part (L + 1, N, units) from `state` on, by the compiled kernel
  `ops` (`compiled_ops`), keeping nothing for a gradient."""
  h_states, c_states, _ = ops.r_lstm_lstm_sequence_forward(
      projected, *state, cell.recurrent_weights()[0], _mask_or_empty(None),
      save_gates=False)
  return h_states, c_states


def _mask_or_empty(active):
  """`active` as the compiled kernels take it: an empty mask for none."""
  return tf.zeros([0, 0], tf.bool) if active is None else active


def _compiled_forward(ops, projected, start, weights, active):
  """`_forward`'s results from the compiled kernel: the c states and the
  saved gates each one (L + 1 or L, N, ...) block."""
  h_states, c_states, gates = ops.r_lstm_lstm_sequence_forward(
      projected, *start, weights[0], _mask_or_empty(active))
  return (h_states[-1], c_states[-1]), h_states, c_states, gates


def _compiled_backward(ops, h_states, c_states, gates, weights, active,
                       d_final, d_outputs):
  """`_backward` by the compiled kernel."""
  d_projected, *d_start = ops.r_lstm_lstm_sequence_backward(
      gates, c_states, weights[0], _mask_or_empty(active), d_outputs,
      *d_final)
  return (d_projected, *d_start,
          *_weight_gradients(h_states, d_projected, weights))


def _or_zeros(gradient, like):
  return tf.zeros_like(like) if gradient is None else gradient


def _hold(active, t, new, old):
  """`new` where row t of `active` is True, else `old` (each a tuple)."""
  if active is None:
    return new
  is_active = active[t][:, tf.newaxis]
  return tuple(tf.where(is_active, n, o) for n, o in zip(new, old))


def _forward(cell, projected, start, weights, active):
  """(final state, h_states, kept, saved).

  h_states: the first state part (h) before and after every step, (L + 1,
  N, units), the start state first; one stacked block, since the outputs
  and the recurrent kernel's gradient read it whole. kept: the other state
  parts in TensorArrays of L + 1 entries, and saved: each saved gate in a
  TensorArray of L entries; only the backward loop reads those, a step at
  a time (stacking a block costs as much as the loop's own copies, and a
  TensorArray entry is the step's tensor itself, not a copy).
  """
  length = tf.shape(projected)[0]
  dtype = projected.dtype
  saved = tuple(tf.TensorArray(dtype, size=length, clear_after_read=False)
                for _ in range(cell.saved_gates))
  states = tuple(tf.TensorArray(dtype, size=length + 1,
                                clear_after_read=False).write(0, part)
                 for part in start)

  def body(t, state, saved, states):
    new_state, step_saved = cell.forward_step(projected[t], state, weights)
    new_state = _hold(active, t, new_state, state)
    saved = tuple(ta.write(t, gate) for ta, gate in zip(saved, step_saved))
    states = tuple(ta.write(t + 1, part) for ta, part in zip(states,
                                                             new_state))
    return t + 1, new_state, saved, states

  _, final, saved, states = tf.while_loop(
      lambda t, *_: t < length, body, (tf.constant(0), start, saved, states))
  return final, states[0].stack(), states[1:], saved


def _backward(cell, projected, h_states, kept, saved, weights, active,
              d_final, d_outputs):
  """Gradients of (projected, *start state, *weights)."""
  length = tf.shape(projected)[0]
  dtype = projected.dtype
  if active is not None:
    d_outputs = tf.where(active[:, :, tf.newaxis], d_outputs,
                         tf.zeros_like(d_outputs))
  recurrent_kernel = weights[0]
  recurrent_kernel_t = tf.transpose(recurrent_kernel)
  # One zero row past the end keeps the stacks defined when L is 0.
  rows = tf.shape(projected)[1:]
  d_projected = tf.TensorArray(dtype, size=length + 1).write(
      length, tf.zeros(rows, dtype))
  # The recurrent pre-activation gradient, when it is not d_projected.
  d_recurrent = tuple(
      tf.TensorArray(dtype, size=length + 1).write(length,
                                                   tf.zeros(rows, dtype))
      for _ in range(0 if cell.recurrent_gradient_is_input_gradient else 1))

  def body(t, d_state, d_projected, d_recurrent):
    d_state = (d_state[0] + d_outputs[t], *d_state[1:])
    before = (h_states[t], *(ta.read(t) for ta in kept))
    after = (h_states[t + 1], *(ta.read(t + 1) for ta in kept))
    step_saved = tuple(ta.read(t) for ta in saved)
    d_p, d_r, d_before = cell.backward_step(step_saved, before, after,
                                            d_state, recurrent_kernel_t)
    if active is not None:
      is_active = active[t][:, tf.newaxis]
      d_p = tf.where(is_active, d_p, tf.zeros_like(d_p))
      if d_recurrent:
        d_r = tf.where(is_active, d_r, tf.zeros_like(d_r))
      d_before = _hold(active, t, d_before, d_state)
    return (t - 1, tuple(d_before), d_projected.write(t, d_p),
            tuple(ta.write(t, d_r) for ta in d_recurrent))

  _, d_start, d_projected, d_recurrent = tf.while_loop(
      lambda t, *_: t >= 0, body,
      (length - 1, d_final, d_projected, d_recurrent))
  d_projected = d_projected.stack()[:length]
  d_recurrent = (d_recurrent[0].stack()[:length] if d_recurrent
                 else d_projected)
  return (d_projected, *d_start,
          *_weight_gradients(h_states, d_recurrent, weights))


def _weight_gradients(h_states, d_recurrent, weights):
  """The recurrent weights' gradients from the recurrent pre-activations'
  (L, N, gates * u). The pre-activation is h_before @ kernel (+ bias): one
  matmul over every step gives the kernel's gradient."""
  recurrent_kernel = weights[0]
  flat_d_recurrent = tf.reshape(d_recurrent, [-1, recurrent_kernel.shape[-1]])
  h_before = tf.reshape(h_states[:-1], [-1, recurrent_kernel.shape[0]])
  d_weights = [tf.matmul(h_before, flat_d_recurrent, transpose_a=True)]
  if len(weights) > 1:  # A recurrent bias.
    d_weights.append(tf.reduce_sum(flat_d_recurrent, axis=0))
  return d_weights
