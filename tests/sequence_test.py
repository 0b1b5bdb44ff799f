"""The hand-written backward pass (`r_lstm.sequence`, `--rnn_gradient=
sequence` and `compiled`) against TensorFlow's gradient of the same steps:
one step, one layer, a stack, the joint window run, and every model's
losses and gradients."""

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from r_lstm import cells, dtypes, models, sequence, unroll
from r_lstm.objectives import base

CELLS = tuple(cells.CELLS)
# The two hand-written paths: TensorFlow loops, and compiled kernels where
# a cell has one.
SEQUENCE_GRADIENTS = unroll.SEQUENCE_GRADIENTS
D, UNITS, N = 5, 7, 4
# bfloat16 keeps 8 bits of mantissa: the two paths round differently.
TOLERANCE = {'float32': 1e-5, 'bfloat16': 5e-2, 'float16': 5e-3}


def _max_relative_error(got, want):
  got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
  return np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-12)


class BackwardStepTest(tf.test.TestCase, parameterized.TestCase):
  """`backward_step` is the gradient of `forward_step`."""

  @parameterized.product(cell=CELLS, use_function=(False, True))
  def test_equals_autodiff_of_the_step(self, cell, use_function):
    keras.utils.set_random_seed(0)
    layer = cells.CELLS[cell](D, UNITS)
    projected = tf.random.normal([N, layer.gates * UNITS])
    state = tuple(tf.random.normal([N, UNITS]) for _ in layer.state_names)
    d_new = tuple(tf.random.normal([N, UNITS]) for _ in layer.state_names)
    weights = layer.recurrent_weights()

    def both():
      with tf.GradientTape() as tape:
        tape.watch([projected, *state, *weights])
        new_state, saved = layer.forward_step(projected, state, weights)
        loss = tf.add_n([tf.reduce_sum(p * d)
                         for p, d in zip(new_state, d_new)])
      want = tape.gradient(loss, [projected, *state, *weights])
      d_p, d_r, d_state = layer.backward_step(
          saved, state, new_state, d_new, tf.transpose(weights[0]))
      h = state[0]
      got = [d_p, *d_state, tf.matmul(h, d_r, transpose_a=True)]
      if len(weights) > 1:
        got.append(tf.reduce_sum(d_r, axis=0))
      return got, want

    got, want = (tf.function(both) if use_function else both)()
    self.assertLen(got, len(want))
    for g, w in zip(got, want):
      self.assertAllClose(g, w, rtol=1e-5, atol=1e-6)


class SequenceRunTest(tf.test.TestCase, parameterized.TestCase):
  """`sequence.run` equals the autodiff loop in values and every gradient:
  the projected inputs, the start state and the recurrent weights."""

  def _both(self, layer, projected, state, active, read_outputs,
            use_function, gradient):
    readout = tf.random.stateless_normal(
        [tf.shape(projected)[0], N, UNITS], [1, 2], dtype=projected.dtype)
    final_readout = [tf.random.stateless_normal([N, UNITS], [3, k],
                                                dtype=projected.dtype)
                     for k in range(len(state))]
    # The LSTM's bias enters through the projection, the GRU's recurrent
    # bias inside the step.
    weights = [layer.recurrent_kernel] + (
        [layer.bias] if isinstance(layer, cells.GRUCell) else [])

    def run(gradient):
      with tf.GradientTape() as tape:
        tape.watch([projected, *state])
        final, outputs = unroll.scan(layer, projected, state, active, True,
                                     gradient)
        loss = tf.add_n([tf.reduce_sum(tf.cast(p * r, tf.float32))
                         for p, r in zip(final, final_readout)])
        if read_outputs:
          loss += tf.reduce_sum(tf.cast(outputs * readout, tf.float32))
      grads = tape.gradient(loss, [projected, *state, *weights])
      return (final, outputs, loss), grads

    if use_function:
      run = tf.function(run)
    return run(gradient), run('autodiff')

  @parameterized.product(cell=CELLS, masked=(False, True),
                         read_outputs=(False, True),
                         use_function=(False, True),
                         gradient=SEQUENCE_GRADIENTS)
  def test_equals_autodiff(self, cell, masked, read_outputs, use_function,
                           gradient):
    keras.utils.set_random_seed(0)
    layer = cells.CELLS[cell](D, UNITS)
    length = 11
    projected = layer.project(tf.random.normal([length, N, D]))
    state = tuple(tf.random.normal([N, UNITS]) for _ in layer.state_names)
    active = None
    if masked:  # Rows starting late, as in a window batch.
      starts = tf.constant([0, 3, 10, 11])
      active = tf.range(length)[:, tf.newaxis] >= starts[tf.newaxis, :]
    (values, grads), (want_values, want_grads) = self._both(
        layer, projected, state, active, read_outputs, use_function,
        gradient)
    for got, want in zip(tf.nest.flatten(values),
                         tf.nest.flatten(want_values)):
      if gradient == 'sequence':
        self.assertAllEqual(got, want)  # The same forward ops.
      else:  # The same math; the matmul sums in its own order.
        self.assertAllClose(got, want, rtol=1e-6, atol=1e-6)
    for got, want in zip(grads, want_grads):
      self.assertIsNotNone(got)
      self.assertLess(_max_relative_error(got, want), TOLERANCE['float32'])

  @parameterized.product(cell=CELLS, gradient=SEQUENCE_GRADIENTS)
  def test_no_steps_passes_the_state_through(self, cell, gradient):
    layer = cells.CELLS[cell](D, UNITS)
    projected = tf.zeros([0, N, layer.gates * UNITS])
    state = tuple(tf.random.normal([N, UNITS]) for _ in layer.state_names)
    (values, grads), (want_values, want_grads) = self._both(
        layer, projected, state, None, True, True, gradient)
    self.assertEqual(values[1].shape, (0, N, UNITS))
    for got, want in zip(values[0], state):
      self.assertAllEqual(got, want)
    for got, want in zip(grads[1:], want_grads[1:]):
      self.assertAllClose(got, want)

  @parameterized.product(cell=CELLS, policy=('mixed_bfloat16',
                                             'mixed_float16'),
                         gradient=SEQUENCE_GRADIENTS)
  def test_mixed_precision_computes_in_the_policy_dtype(self, cell, policy,
                                                        gradient):
    keras.utils.set_random_seed(0)
    with dtypes.policy_scope(policy):
      layer = cells.CELLS[cell](D, UNITS)
    projected = layer.project(tf.random.normal([9, N, D]))
    self.assertEqual(projected.dtype, layer.compute_dtype)
    state = layer.zero_state(N)
    (values, grads), (_, want_grads) = self._both(
        layer, projected, state, None, True, True, gradient)
    self.assertEqual(values[1].dtype, layer.compute_dtype)
    for got, want in zip(grads, want_grads):
      if got.dtype == tf.float32:  # The float32 weights.
        tolerance = TOLERANCE[layer.compute_dtype]
      else:
        tolerance = TOLERANCE[got.dtype.name]
      self.assertLess(_max_relative_error(got, want), tolerance)


class JointWindowsTest(tf.test.TestCase, parameterized.TestCase):
  """With the sequence gradients the window batches run as one: each
  result and every gradient equal the batches run one by one."""

  @parameterized.product(cell=CELLS, use_function=(False, True),
                         gradient=SEQUENCE_GRADIENTS)
  def test_joint_run_equals_separate_runs(self, cell, use_function,
                                          gradient):
    keras.utils.set_random_seed(0)
    layer = cells.CELLS[cell](D, UNITS)
    inputs = tf.random.normal([20, 3, D])
    lengths = tf.constant([20, 14, 9])
    windows = [unroll.Window.last_steps(lengths, 6),
               unroll.Window.per_example(tf.constant([[8, 12], [5, 9],
                                                      [9, 3]]),
                                         tf.constant([[8, 4], [5, 9],
                                                      [2, 3]]), 9)]
    readouts = [tf.random.normal([3, UNITS]), tf.random.normal([9, 6, UNITS])]

    def run(gradient):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        first, (second, outputs) = unroll.run_windows(
            layer, inputs, windows, [False, True], gradient)
        loss = (tf.reduce_sum(layer.output(first) * readouts[0])
                + tf.reduce_sum(outputs * readouts[1])
                + tf.reduce_sum(layer.output(second)))
      return (first, second, outputs), tape.gradient(
          loss, [inputs, *layer.trainable_variables])

    if use_function:
      run = tf.function(run)
    (values, grads), (want_values, want_grads) = (run(gradient),
                                                  run('autodiff'))
    self.assertEqual(values[2].shape[1], 6)
    for got, want in zip(tf.nest.flatten(values),
                         tf.nest.flatten(want_values)):
      self.assertAllClose(got, want, rtol=1e-6, atol=1e-6)
    for got, want in zip(grads, want_grads):
      self.assertLess(_max_relative_error(got, want), 1e-5)


class ModelGradientTest(tf.test.TestCase, parameterized.TestCase):
  """Every model's losses and every weight's gradient are the same with
  the hand-written backward pass as with autodiff."""

  @parameterized.product(
      auxiliary=((), ('reconstruction',), ('prediction',),
                 ('reconstruction', 'prediction')),
      cell=CELLS, precision=('float32', 'mixed_bfloat16'),
      gradient=SEQUENCE_GRADIENTS)
  def test_losses_and_gradients_equal_autodiff(self, auxiliary, cell,
                                               precision, gradient):
    tokens = tf.random.stateless_uniform([3, 30, 1], [0, 1], 0, 16, tf.int32)
    lengths = tf.constant([30, 25, 30])
    labels = tf.constant([0, 1, 2])
    valid = tf.constant([True, True, True])
    anchors = {'reconstruction': (tf.constant([[12], [20], [30]]), valid),
               'prediction': (tf.constant([[1], [10], [20]]), valid)}
    # Half the reconstruction's steps unfed: both input paths of the
    # decoder's bottom layer.
    options = base.DecoderOptions(aux_length=8, aux_bptt=6,
                                  decoder_units=9, decoder_layers=2,
                                  decoder_head_units=(10,),
                                  decoder_feed_rate=0.5)

    def losses_and_grads(gradient):
      keras.utils.set_random_seed(0)
      model = models.SequenceClassifier(
          num_classes=3, vocab_size=16, embed_dim=4, lstm_units=6,
          head_units=(8,), bptt=7, auxiliary=auxiliary, decoder=options,
          cell=cell, rnn_gradient=gradient, dtype=precision)

      @tf.function
      def run():
        with tf.GradientTape() as tape:
          scores = model.objectives(tokens, lengths, labels, anchors,
                                    feed_seed=tf.constant([4, 5]))
          losses = {name: tf.reduce_mean(loss)
                    for name, (loss, _) in scores.items()}
          total = tf.add_n(list(losses.values()))
        return losses, tape.gradient(total, model.trainable_variables)

      return run()

    (losses, grads), (want_losses, want_grads) = (
        losses_and_grads(gradient), losses_and_grads('autodiff'))
    self.assertEqual(sorted(losses), sorted(want_losses))
    self.assertLen(losses, 1 + len(auxiliary))
    tolerance = 1e-5 if precision == 'float32' else 5e-2
    for name, loss in losses.items():
      self.assertAllClose(loss, want_losses[name], rtol=tolerance)
    self.assertLen(grads, len(want_grads))
    for got, want in zip(grads, want_grads):
      self.assertIsNotNone(got)
      self.assertLess(_max_relative_error(got, want), tolerance)


if __name__ == '__main__':
  tf.test.main()
