"""The compiled step loops (`r_lstm.compiled`, `r_lstm/kernels`): built
once per machine, used where they apply, checked inputs, and the
TensorFlow loops where they cannot be built. Their values and gradients
are held to autodiff in sequence_test, unroll_test and the model tests."""

import os
from unittest import mock

from absl.testing import parameterized
import keras
import tensorflow as tf

from r_lstm import cells, compiled, dtypes, sequence, unroll

FORWARD, BACKWARD = 'RLstmLstmSequenceForward', 'RLstmLstmSequenceBackward'


def _op_types(function) -> set:
  """The op types `function` runs when traced, its gradients' included."""
  graph_def = tf.function(function).get_concrete_function().graph.as_graph_def()
  types = {node.op for node in graph_def.node}
  for library_function in graph_def.library.function:
    types |= {node.op for node in library_function.node_def}
  return types


def _window_op_types(cell, compiled_loops: bool) -> set:
  """The op types of one forward and backward pass of `cell`."""
  projected = tf.random.normal([6, 3, cell.gates * cell.units],
                               dtype=cell.compute_dtype)

  def run():
    with tf.GradientTape() as tape:
      tape.watch(projected)
      _, outputs = sequence.run(cell, projected, cell.zero_state(3),
                                compiled=compiled_loops)
      loss = tf.reduce_sum(tf.cast(outputs, tf.float32))
    return tape.gradient(loss, projected)

  return _op_types(run)


def _has_loop(types) -> bool:
  return any(op.endswith('While') for op in types)


class UseTest(tf.test.TestCase, parameterized.TestCase):

  def test_float32_lstm_runs_both_loops_compiled(self):
    keras.utils.set_random_seed(0)
    types = _window_op_types(cells.LSTMCell(5, 4), True)
    self.assertContainsSubset({FORWARD, BACKWARD}, types)
    self.assertFalse(_has_loop(types))

  def test_float32_lstm_capture_pass_runs_compiled(self):
    keras.utils.set_random_seed(0)
    cell = cells.LSTMCell(5, 4)
    inputs = tf.random.normal([20, 3, 5])
    types = _op_types(lambda: unroll.capture_states(
        cell, inputs, tf.constant([[4], [20], [0]]), compiled=True))
    self.assertIn(FORWARD, types)

  @parameterized.named_parameters(
      ('tensorflow_loops_asked_for', 'lstm', 'float32', False),
      ('gru_has_no_kernel', 'gru', 'float32', True),
      ('mixed_precision', 'lstm', 'mixed_bfloat16', True))
  def test_tensorflow_loops_elsewhere(self, cell, policy, compiled_loops):
    keras.utils.set_random_seed(0)
    with dtypes.policy_scope(policy):
      layer = cells.CELLS[cell](5, 4)
    types = _window_op_types(layer, compiled_loops)
    self.assertNoCommonElements({FORWARD, BACKWARD}, types)
    self.assertTrue(_has_loop(types))


class InputCheckTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.ops = compiled.load('lstm_sequence')
    self.assertIsNotNone(self.ops, 'the kernel did not build here')

  def _forward(self, projected=(2, 3, 16), h=(3, 4), kernel=(4, 16),
               active=(0, 0)):
    """The forward op on zeros of these shapes (a valid call by default)."""
    return self.ops.r_lstm_lstm_sequence_forward(
        tf.zeros(projected), tf.zeros(h), tf.zeros([3, 4]), tf.zeros(kernel),
        tf.zeros(active, tf.bool))

  def test_kernel_not_of_four_gates_is_refused(self):
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                r'recurrent_kernel must be \(units, 4'):
      self._forward(projected=(2, 3, 12), kernel=(4, 12))

  def test_state_of_other_units_is_refused(self):
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                'do not fit a kernel of 4 units'):
      self._forward(h=(3, 5))

  def test_mask_of_other_shape_is_refused(self):
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                r'active must be \(steps, rows\)'):
      self._forward(active=(3, 2))

  def test_gradients_of_other_steps_are_refused(self):
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                'do not fit 2 steps of 3 rows of 4 units'):
      self.ops.r_lstm_lstm_sequence_backward(
          tf.zeros([2, 3, 16]), tf.zeros([3, 3, 4]), tf.zeros([4, 16]),
          tf.zeros([0, 0], tf.bool), tf.zeros([5, 3, 4]), tf.zeros([3, 4]),
          tf.zeros([3, 4]))


class BuildTest(tf.test.TestCase):
  """Each test builds into its own cache directory (and loads nothing from
  it: a process registers a kernel's ops once, from the default cache)."""

  def setUp(self):
    super().setUp()
    compiled.load.cache_clear()
    self.cache = self.create_tempdir().full_path
    self.enter_context(mock.patch.dict(
        os.environ, {compiled.CACHE_VARIABLE: self.cache}))
    self.addCleanup(compiled.load.cache_clear)

  def test_builds_once_then_finds_the_cached_library(self):
    library = compiled.built_library('lstm_sequence')
    self.assertEqual(os.listdir(self.cache), [library.name])
    self.assertRegex(library.name, r'^lstm_sequence-[0-9a-f]{16}\.so$')
    built = library.stat().st_mtime_ns
    self.assertEqual(compiled.built_library('lstm_sequence'), library)
    self.assertEqual(library.stat().st_mtime_ns, built)

  def test_failed_build_falls_back_and_says_why(self):
    with mock.patch.dict(os.environ, {'CXX': 'false'}), \
        self.assertLogs(level='WARNING') as logs:
      self.assertIsNone(compiled.load('lstm_sequence'))
    self.assertIn('run as TensorFlow loops', logs.output[0])
    self.assertEqual(os.listdir(self.cache), [])  # No partial file left.

  def test_missing_compiler_falls_back_and_says_why(self):
    with mock.patch.dict(os.environ, {'CXX': '/nonexistent/g++'}), \
        self.assertLogs(level='WARNING') as logs:
      self.assertIsNone(compiled.load('lstm_sequence'))
    self.assertIn('/nonexistent/g++', logs.output[0])

  def test_without_a_compiler_the_model_still_trains(self):
    keras.utils.set_random_seed(0)
    layer = cells.LSTMCell(5, 4)
    projected = tf.random.normal([6, 3, 16])
    with mock.patch.dict(os.environ, {'CXX': 'false'}), \
        self.assertLogs(level='WARNING'):
      with tf.GradientTape() as tape:
        _, outputs = sequence.run(layer, projected, layer.zero_state(3),
                                  compiled=True)
        loss = tf.reduce_sum(outputs)
    self.assertNotAllClose(tape.gradient(loss, layer.recurrent_kernel),
                           tf.zeros([4, 16]))


if __name__ == '__main__':
  tf.test.main()
