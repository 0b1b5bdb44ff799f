"""Tests of the windowed unroll: forward values and exact gradient windows,
for every recurrent core (`cells.CELLS`) and every way of computing the
gradient (`configs.RNN_GRADIENTS`)."""

import functools
from unittest import mock

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from r_lstm import cells, configs, cores, unroll

T, B, D, UNITS = 40, 3, 4, 8
CELLS = tuple(cells.CELLS)
GRADIENTS = configs.RNN_GRADIENTS


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


def numpy_step(cell, x, state):
  """NumPy reference of one step of either cell."""
  kernel, recurrent, bias = (np.asarray(v) for v in
                             (cell.kernel, cell.recurrent_kernel, cell.bias))
  if isinstance(cell, cells.LSTMCell):
    h, c = state
    i, f, g, o = np.split(x @ kernel + bias + h @ recurrent, 4, axis=-1)
    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c), c
  (h,) = state
  x_z, x_r, x_h = np.split(x @ kernel + bias[0], 3, axis=-1)
  h_z, h_r, h_h = np.split(h @ recurrent + bias[1], 3, axis=-1)
  z, r = _sigmoid(x_z + h_z), _sigmoid(x_r + h_r)
  return (z * h + (1 - z) * np.tanh(x_h + r * h_h),)


def numpy_final_states(cell, inputs, lengths):
  """NumPy reference: each example's state after its own last step."""
  state = tuple(np.zeros([inputs.shape[1], cell.units], np.float32)
                for _ in cell.state_names)
  final = tuple(np.zeros_like(part) for part in state)
  for t in range(inputs.shape[0]):
    state = numpy_step(cell, inputs[t], state)
    ends = (lengths == t + 1)[:, None]
    final = tuple(np.where(ends, part, kept)
                  for part, kept in zip(state, final))
  return final


def reference_truncated_output(cell, inputs, example, start, end):
  """Plain step-by-step unroll of one example, state cut at `start`."""
  state = cell.zero_state(1)
  for t in range(end):
    if t == start:
      state = tuple(tf.stop_gradient(part) for part in state)
    state = cell.step(cell.project(inputs[t, example:example + 1]), state)
  return cell.output(state)[0]


class UnrollTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    keras.utils.set_random_seed(1)
    self.cells = {kind: cells.CELLS[kind](D, UNITS) for kind in CELLS}
    self.inputs = tf.random.normal([T, B, D])
    self.readout = tf.random.normal([UNITS])

  def _run(self, use_function, fn, *args):
    return (tf.function(fn) if use_function else fn)(*args)

  def _grad_wrt_inputs(self, cell, lengths, bptt, use_function, gradient):
    """d(readout . output_final) / d(inputs), per step and example: (T, B)."""
    def grads(inputs):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        state = unroll.final_states(cell, inputs, tf.constant(lengths), bptt,
                                    gradient)
        loss = tf.reduce_sum(cell.output(state) * self.readout)
      return tape.gradient(loss, inputs)
    g = self._run(use_function, grads, self.inputs)
    return np.abs(g.numpy()).sum(axis=-1)

  @parameterized.product(
      cell=CELLS, lengths=[[T, T, T], [T, 25, 7]], bptt=[1, 10],
      use_function=[False, True], gradient=GRADIENTS)
  def test_gradient_is_zero_outside_and_nonzero_inside_window(
      self, cell, lengths, bptt, use_function, gradient):
    grad = self._grad_wrt_inputs(self.cells[cell], lengths, bptt,
                                 use_function, gradient)
    for b, length in enumerate(lengths):
      start = max(length - bptt, 0)
      np.testing.assert_array_equal(grad[:start, b], 0.0)
      np.testing.assert_array_equal(grad[length:, b], 0.0)
      self.assertTrue(np.all(grad[start:length, b] > 0),
                      f'zero gradient inside window of example {b}')

  @parameterized.product(cell=CELLS, use_function=[False, True],
                         gradient=GRADIENTS)
  def test_zero_bptt_gives_the_same_state_and_no_gradient(
      self, cell, use_function, gradient):
    cell = self.cells[cell]
    lengths = tf.constant([T, 25, 7])

    def state_and_grads(inputs):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        state = unroll.final_states(cell, inputs, lengths, 0, gradient)
        loss = tf.reduce_sum(cell.output(state) * self.readout)
      grad = tape.gradient(loss, inputs)
      return state, tf.zeros_like(inputs) if grad is None else grad

    state, grad = self._run(use_function, state_and_grads, self.inputs)
    want = unroll.final_states(cell, self.inputs, lengths, None)
    self.assertAllClose(state, want)
    np.testing.assert_array_equal(grad.numpy(), 0.0)

  @parameterized.parameters(False, True)
  def test_stop_gradient_on_outputs_alone_would_not_truncate(self, use_function):
    """The trap this module avoids: gradient flows through (h, c)."""
    cell = self.cells['lstm']

    def grads(inputs):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        h, c = cell.zero_state(B)
        for t in range(T):
          h, c = cell.step(cell.project(inputs[t]), (h, c))
          if t < T - 10:  # Naive cut: the output h only, not the cell c.
            h = tf.stop_gradient(h)
        loss = tf.reduce_sum(h * self.readout)
      return tape.gradient(loss, inputs)
    g = self._run(use_function, grads, self.inputs)
    self.assertGreater(np.abs(g.numpy()[0]).sum(), 0.0)

  @parameterized.product(cell=CELLS, bptt=[1, 10, T],
                         use_function=[False, True])
  def test_forward_equals_numpy_reference(self, cell, bptt, use_function):
    cell = self.cells[cell]
    lengths = np.array([T, 25, 7], np.int32)
    state = self._run(use_function, unroll.final_states, cell, self.inputs,
                      tf.constant(lengths), bptt)
    want = numpy_final_states(cell, self.inputs.numpy(), lengths)
    self.assertLen(state, len(cell.state_names))
    for got, expected in zip(state, want):
      self.assertAllClose(got, expected, atol=1e-5)

  @parameterized.parameters(*CELLS)
  def test_gradient_free_forward_equals_windowed_forward(self, cell):
    cell = self.cells[cell]
    lengths = tf.constant([T, 25, 7])
    windowed = unroll.final_states(cell, self.inputs, lengths, 10)
    free = unroll.final_states(cell, self.inputs, lengths, None)
    self.assertAllClose(windowed, free, atol=1e-6)

  @parameterized.product(cell=CELLS, use_function=[False, True],
                         gradient=GRADIENTS)
  def test_full_bptt_matches_keras_layer(self, cell, use_function, gradient):
    """The cell equals `keras.layers.LSTM` / `GRU` (reset_after) with the
    same weights: values and gradients."""
    cell = self.cells[cell]
    layer = (keras.layers.LSTM(UNITS) if isinstance(cell, cells.LSTMCell)
             else keras.layers.GRU(UNITS, reset_after=True))
    layer.build((B, T, D))
    layer.set_weights([np.asarray(v) for v in
                       (cell.kernel, cell.recurrent_kernel, cell.bias)])

    def ours(inputs):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        state = unroll.final_states(cell, inputs, tf.fill([B], T), T,
                                    gradient)
        h = cell.output(state)
        loss = tf.reduce_sum(h * self.readout)
      return (h,) + tuple(tape.gradient(
          loss, [inputs, cell.kernel, cell.recurrent_kernel, cell.bias]))

    def theirs(inputs):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        h = layer(tf.transpose(inputs, [1, 0, 2]))
        loss = tf.reduce_sum(h * self.readout)
      return (h,) + tuple(tape.gradient(
          loss, [inputs, layer.cell.kernel, layer.cell.recurrent_kernel,
                 layer.cell.bias]))

    for got, want in zip(self._run(use_function, ours, self.inputs),
                         self._run(use_function, theirs, self.inputs)):
      self.assertAllClose(got, want, atol=1e-5)

  @parameterized.product(cell=CELLS, use_function=[False, True],
                         gradient=GRADIENTS)
  def test_overlapping_windows_are_each_exact(self, cell, use_function,
                                              gradient):
    cell = self.cells[cell]
    # Rows 0-2 read example 1 over overlapping windows; row 3 reads example 0.
    example = tf.constant([1, 1, 1, 0])
    end = tf.constant([30, 35, 25, 40])
    length = tf.constant([12, 20, 25, 5])
    window = unroll.Window(example, end, length, tf.reduce_max(length))

    def row_grads(inputs):
      with tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs)
        start_state = self._start_states(cell, inputs, window)
        final = cell.output(unroll.run_window(cell, inputs, window,
                                              start_state, gradient=gradient))
        losses = tf.reduce_sum(final * self.readout, axis=-1)
        row_losses = [losses[r] for r in range(4)]
      grads = [tape.gradient(l, inputs) for l in row_losses]
      return final, grads

    final, grads = self._run(use_function, row_grads, self.inputs)
    for r in range(4):
      b, e, n = int(example[r]), int(end[r]), int(length[r])
      with tf.GradientTape() as tape:
        tape.watch(self.inputs)
        want = reference_truncated_output(cell, self.inputs, b, e - n, e)
        want_loss = tf.reduce_sum(want * self.readout)
      want_grad = tape.gradient(want_loss, self.inputs)
      self.assertAllClose(final[r], want, atol=1e-5)
      self.assertAllClose(grads[r], want_grad, atol=1e-6)
      per_step = np.abs(grads[r].numpy()).sum(axis=-1)
      np.testing.assert_array_equal(np.delete(per_step, b, axis=1), 0.0)
      np.testing.assert_array_equal(per_step[:e - n, b], 0.0)
      np.testing.assert_array_equal(per_step[e:, b], 0.0)
      self.assertTrue(np.all(per_step[e - n:e, b] > 0))

  def _start_states(self, cell, inputs, window):
    """capture_states for a window whose rows may share an example."""
    captured = unroll.capture_states(
        cell, tf.gather(inputs, window.example, axis=1),
        window.start[:, tf.newaxis])
    return tuple(part[:, 0] for part in captured)

  @parameterized.product(cell=CELLS, use_function=[False, True],
                         compiled=[False, True])
  def test_capture_states_matches_reference(self, cell, use_function,
                                            compiled):
    cell = self.cells[cell]
    # Chunks of 7 steps: positions on, before and after their boundaries.
    self.enter_context(mock.patch.object(unroll, 'CAPTURE_CHUNK', 7))
    positions = tf.constant([[0, 5, 40], [17, 14, 1], [7, 0, 39]])
    captured = self._run(use_function, functools.partial(
        unroll.capture_states, compiled=compiled), cell, self.inputs,
                         positions)
    for b in range(B):
      for k in range(3):
        p = int(positions[b, k])
        lengths = np.full([B], p, np.int32)
        want = numpy_final_states(cell, self.inputs.numpy(), lengths)
        for got, expected in zip(captured, want):
          if p == 0:
            expected = np.zeros_like(expected)
          self.assertAllClose(got[b, k], expected[b], atol=1e-5)

  @parameterized.product(cell=CELLS, gradient=GRADIENTS)
  def test_end_aligned_outputs(self, cell, gradient):
    cell = self.cells[cell]
    window = unroll.Window.last_steps(tf.constant([T, 25, 7]), 10)
    captured = unroll.capture_states(cell, self.inputs,
                                     window.start[:, tf.newaxis])
    final, outputs = unroll.run_window(
        cell, self.inputs, window, tuple(part[:, 0] for part in captured),
        return_outputs=True, gradient=gradient)
    self.assertEqual(outputs.shape, (10, B, UNITS))
    self.assertAllClose(outputs[-1], cell.output(final))
    # Example 2 has only 7 steps: its first 3 outputs precede its window.
    self.assertAllEqual(outputs[:3, 2], tf.zeros([3, UNITS]))
    want = numpy_final_states(cell, self.inputs.numpy(),
                              np.array([T - 1, 24, 6], np.int32))
    self.assertAllClose(outputs[-2], want[0], atol=1e-5)


class StackedCoreTest(tf.test.TestCase, parameterized.TestCase):
  """`StackedCore` runs a stack in one loop (autodiff) or layer after layer
  (sequence): the same outputs and gradients as a NumPy unroll of one
  layer after the other."""

  @parameterized.product(cell=CELLS, use_function=(False, True),
                         gradient=GRADIENTS)
  def test_equals_layer_by_layer_numpy_reference(self, cell, use_function,
                                                 gradient):
    keras.utils.set_random_seed(1)
    layers = (cells.CELLS[cell](D, UNITS), cells.CELLS[cell](UNITS, UNITS),
             cells.CELLS[cell](UNITS, UNITS))
    stack = cores.StackedCore(layers)
    inputs = tf.random.stateless_normal([12, B, D], [3, 4])
    bottom_state = tuple(tf.random.stateless_normal([B, UNITS], [5, k])
                         for k, _ in enumerate(layers[0].state_names))
    start = bottom_state + tuple(
        part for c in layers[1:] for part in c.zero_state(B))

    def run():
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        final, outputs = unroll.scan(stack, stack.project(inputs), start,
                                     return_outputs=True, gradient=gradient)
        loss = tf.reduce_sum(outputs ** 2)
      return final, outputs, tape.gradient(loss, inputs)

    final, outputs, gradient = (tf.function(run) if use_function else run)()

    layer_inputs = inputs.numpy()
    finals = []
    for k, c in enumerate(layers):
      state = (tuple(part.numpy() for part in bottom_state) if k == 0 else
               tuple(np.zeros([B, UNITS], np.float32) for _ in c.state_names))
      steps = []
      for x in layer_inputs:
        state = numpy_step(c, x, state)
        steps.append(state[0])
      layer_inputs = np.stack(steps)
      finals.extend(state)
    self.assertAllClose(outputs, layer_inputs, atol=1e-5)
    self.assertLen(final, len(stack.state_names))
    for got, want in zip(final, finals):
      self.assertAllClose(got, want, atol=1e-5)
    self.assertAllClose(stack.output(final), finals[-len(layers[-1].state_names)],
                        atol=1e-5)
    # Every input step reaches the top layer's outputs.
    self.assertTrue(np.all(np.abs(gradient.numpy()).sum(axis=(1, 2)) > 0))

  @parameterized.parameters(*CELLS)
  def test_state_parts_are_each_layers_in_order(self, cell):
    layers = (cells.CELLS[cell](D, UNITS), cells.CELLS[cell](UNITS, 2 * UNITS))
    stack = cores.StackedCore(layers)
    state = stack.zero_state(B)
    self.assertLen(state, 2 * len(layers[0].state_names))
    parts = stack.layer_states(state)
    self.assertEqual([len(part) for part in parts],
                     [len(c.state_names) for c in layers])
    self.assertEqual(parts[1][0].shape, (B, 2 * UNITS))
    self.assertEqual(stack.units, 2 * UNITS)


if __name__ == '__main__':
  tf.test.main()
