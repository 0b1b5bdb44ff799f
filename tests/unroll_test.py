"""Tests of the windowed unroll: forward values and exact gradient windows."""

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from r_lstm import unroll

T, B, D, UNITS = 40, 3, 4, 8


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


def numpy_final_states(cell, inputs, lengths):
  """NumPy reference: each example's (h, c) after its own last step."""
  kernel, recurrent, bias = (np.asarray(v) for v in
                             (cell.kernel, cell.recurrent_kernel, cell.bias))
  h = np.zeros([inputs.shape[1], cell.units], np.float32)
  c = np.zeros_like(h)
  final_h, final_c = np.zeros_like(h), np.zeros_like(c)
  for t in range(inputs.shape[0]):
    z = inputs[t] @ kernel + bias + h @ recurrent
    i, f, g, o = np.split(z, 4, axis=-1)
    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    h = _sigmoid(o) * np.tanh(c)
    ends = (lengths == t + 1)[:, None]
    final_h, final_c = np.where(ends, h, final_h), np.where(ends, c, final_c)
  return final_h, final_c


def reference_truncated_h(cell, inputs, example, start, end):
  """Plain step-by-step unroll of one example, state cut at `start`."""
  h, c = cell.zero_state(1)
  for t in range(end):
    if t == start:
      h, c = tf.stop_gradient(h), tf.stop_gradient(c)
    h, c = cell.step(cell.project(inputs[t, example:example + 1]), (h, c))
  return h[0]


class UnrollTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    keras.utils.set_random_seed(1)
    self.cell = unroll.LSTMCell(D, UNITS)
    self.inputs = tf.random.normal([T, B, D])
    self.readout = tf.random.normal([UNITS])

  def _run(self, use_function, fn, *args):
    return (tf.function(fn) if use_function else fn)(*args)

  def _grad_wrt_inputs(self, lengths, bptt, use_function):
    """d(readout . h_final) / d(inputs), per step and example: (T, B)."""
    def grads(inputs):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        h, _ = unroll.final_states(self.cell, self.cell.project, inputs,
                                   tf.constant(lengths), bptt)
        loss = tf.reduce_sum(h * self.readout)
      return tape.gradient(loss, inputs)
    g = self._run(use_function, grads, self.inputs)
    return np.abs(g.numpy()).sum(axis=-1)

  @parameterized.product(
      lengths=[[T, T, T], [T, 25, 7]], bptt=[1, 10], use_function=[False, True])
  def test_gradient_is_zero_outside_and_nonzero_inside_window(
      self, lengths, bptt, use_function):
    grad = self._grad_wrt_inputs(lengths, bptt, use_function)
    for b, length in enumerate(lengths):
      start = max(length - bptt, 0)
      np.testing.assert_array_equal(grad[:start, b], 0.0)
      np.testing.assert_array_equal(grad[length:, b], 0.0)
      self.assertTrue(np.all(grad[start:length, b] > 0),
                      f'zero gradient inside window of example {b}')

  @parameterized.parameters(False, True)
  def test_zero_bptt_gives_the_same_state_and_no_gradient(self, use_function):
    lengths = tf.constant([T, 25, 7])

    def state_and_grads(inputs):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        h, _ = unroll.final_states(self.cell, self.cell.project, inputs,
                                   lengths, 0)
        loss = tf.reduce_sum(h * self.readout)
      grad = tape.gradient(loss, inputs)
      return h, tf.zeros_like(inputs) if grad is None else grad

    h, grad = self._run(use_function, state_and_grads, self.inputs)
    want, _ = unroll.final_states(self.cell, self.cell.project, self.inputs,
                                  lengths, None)
    self.assertAllClose(h, want)
    np.testing.assert_array_equal(grad.numpy(), 0.0)

  @parameterized.parameters(False, True)
  def test_stop_gradient_on_outputs_alone_would_not_truncate(self, use_function):
    """The trap this module avoids: gradient flows through (h, c)."""
    def grads(inputs):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        h, c = self.cell.zero_state(B)
        for t in range(T):
          h, c = self.cell.step(self.cell.project(inputs[t]), (h, c))
          if t < T - 10:  # Naive cut: the output h only, not the cell c.
            h = tf.stop_gradient(h)
        state = (h, c)
        loss = tf.reduce_sum(state[0] * self.readout)
      return tape.gradient(loss, inputs)
    g = self._run(use_function, grads, self.inputs)
    self.assertGreater(np.abs(g.numpy()[0]).sum(), 0.0)

  @parameterized.product(bptt=[1, 10, T], use_function=[False, True])
  def test_forward_equals_numpy_reference(self, bptt, use_function):
    lengths = np.array([T, 25, 7], np.int32)
    h, c = self._run(use_function, unroll.final_states, self.cell,
                     self.cell.project, self.inputs, tf.constant(lengths),
                     bptt)
    want_h, want_c = numpy_final_states(self.cell, self.inputs.numpy(),
                                        lengths)
    self.assertAllClose(h, want_h, atol=1e-5)
    self.assertAllClose(c, want_c, atol=1e-5)

  def test_gradient_free_forward_equals_windowed_forward(self):
    lengths = tf.constant([T, 25, 7])
    windowed, _ = unroll.final_states(self.cell, self.cell.project,
                                      self.inputs, lengths, 10)
    free, _ = unroll.final_states(self.cell, self.cell.project, self.inputs,
                                  lengths, None)
    self.assertAllClose(windowed, free, atol=1e-6)

  @parameterized.parameters(False, True)
  def test_full_bptt_matches_keras_lstm(self, use_function):
    layer = keras.layers.LSTM(UNITS)
    layer.build((B, T, D))
    layer.set_weights([np.asarray(v) for v in
                       (self.cell.kernel, self.cell.recurrent_kernel,
                        self.cell.bias)])

    def ours(inputs):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        h, _ = unroll.final_states(self.cell, self.cell.project, inputs,
                                   tf.fill([B], T), T)
        loss = tf.reduce_sum(h * self.readout)
      return (h,) + tuple(tape.gradient(
          loss, [inputs, self.cell.kernel, self.cell.recurrent_kernel]))

    def theirs(inputs):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        h = layer(tf.transpose(inputs, [1, 0, 2]))
        loss = tf.reduce_sum(h * self.readout)
      return (h,) + tuple(tape.gradient(
          loss, [inputs, layer.cell.kernel, layer.cell.recurrent_kernel]))

    for got, want in zip(self._run(use_function, ours, self.inputs),
                         self._run(use_function, theirs, self.inputs)):
      self.assertAllClose(got, want, atol=1e-5)

  @parameterized.parameters(False, True)
  def test_overlapping_windows_are_each_exact(self, use_function):
    # Rows 0-2 read example 1 over overlapping windows; row 3 reads example 0.
    example = tf.constant([1, 1, 1, 0])
    end = tf.constant([30, 35, 25, 40])
    length = tf.constant([12, 20, 25, 5])
    window = unroll.Window(example, end, length, tf.reduce_max(length))

    def row_grads(inputs):
      with tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs)
        start_h, start_c = self._start_states(inputs, window)
        final_h, _ = unroll.run_window(self.cell, self.cell.project, inputs,
                                       window, (start_h, start_c))
        losses = tf.reduce_sum(final_h * self.readout, axis=-1)
        row_losses = [losses[r] for r in range(4)]
      grads = [tape.gradient(l, inputs) for l in row_losses]
      return final_h, grads

    final_h, grads = self._run(use_function, row_grads, self.inputs)
    for r in range(4):
      b, e, n = int(example[r]), int(end[r]), int(length[r])
      with tf.GradientTape() as tape:
        tape.watch(self.inputs)
        want_h = reference_truncated_h(self.cell, self.inputs, b, e - n, e)
        want_loss = tf.reduce_sum(want_h * self.readout)
      want_grad = tape.gradient(want_loss, self.inputs)
      self.assertAllClose(final_h[r], want_h, atol=1e-5)
      self.assertAllClose(grads[r], want_grad, atol=1e-6)
      per_step = np.abs(grads[r].numpy()).sum(axis=-1)
      np.testing.assert_array_equal(np.delete(per_step, b, axis=1), 0.0)
      np.testing.assert_array_equal(per_step[:e - n, b], 0.0)
      np.testing.assert_array_equal(per_step[e:, b], 0.0)
      self.assertTrue(np.all(per_step[e - n:e, b] > 0))

  def _start_states(self, inputs, window):
    """capture_states for a window whose rows may share an example."""
    h, c = unroll.capture_states(
        self.cell, self.cell.project, tf.gather(inputs, window.example, axis=1),
        window.start[:, tf.newaxis])
    return h[:, 0], c[:, 0]

  @parameterized.parameters(False, True)
  def test_capture_states_matches_reference(self, use_function):
    positions = tf.constant([[0, 5, 40], [17, 17, 1], [3, 0, 39]])
    h, c = self._run(use_function, unroll.capture_states, self.cell,
                     self.cell.project, self.inputs, positions)
    for b in range(B):
      for k in range(3):
        p = int(positions[b, k])
        lengths = np.full([B], p, np.int32)
        want_h, want_c = numpy_final_states(self.cell, self.inputs.numpy(),
                                            lengths)
        if p == 0:
          want_h, want_c = np.zeros_like(want_h), np.zeros_like(want_c)
        self.assertAllClose(h[b, k], want_h[b], atol=1e-5)
        self.assertAllClose(c[b, k], want_c[b], atol=1e-5)

  def test_end_aligned_outputs(self):
    window = unroll.Window.last_steps(tf.constant([T, 25, 7]), 10)
    h, c = unroll.capture_states(self.cell, self.cell.project, self.inputs,
                                 window.start[:, tf.newaxis])
    (final_h, _), outputs = unroll.run_window(
        self.cell, self.cell.project, self.inputs, window,
        (h[:, 0], c[:, 0]), return_outputs=True)
    self.assertEqual(outputs.shape, (10, B, UNITS))
    self.assertAllClose(outputs[-1], final_h)
    # Example 2 has only 7 steps: its first 3 outputs precede its window.
    self.assertAllEqual(outputs[:3, 2], tf.zeros([3, UNITS]))
    want_h, _ = numpy_final_states(self.cell, self.inputs.numpy(),
                                   np.array([T - 1, 24, 6], np.int32))
    self.assertAllClose(outputs[-2], want_h, atol=1e-5)


if __name__ == '__main__':
  tf.test.main()
