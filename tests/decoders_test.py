"""Tests of the auxiliary decoders against step-by-step reference loops."""

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from r_lstm import decoders

L, N, C, VOCAB, MAIN, UNITS = 7, 3, 2, 11, 5, 6


def reference_logits(decoder, bottom_cell, bottom_inputs, bottom_state):
  """One step at a time through every layer, then the head."""
  states = [bottom_state] + [c.zero_state(N) for c in decoder.upper_cells]
  cells = [bottom_cell] + decoder.upper_cells
  logits = []
  for t in range(len(bottom_inputs)):
    x = bottom_inputs[t]
    for i, cell in enumerate(cells):
      states[i] = cell.step(x, states[i])
      if i + 1 < len(cells):
        x = cells[i + 1].project(states[i][0])
    logits.append(tf.reshape(decoder.head(states[-1][0]), [N, C, VOCAB]))
  return tf.stack(logits)


class DecodersTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    keras.utils.set_random_seed(0)
    self.segment = tf.random.uniform([L, N, C], 0, VOCAB, tf.int32)
    self.state = (tf.random.normal([N, MAIN]), tf.random.normal([N, MAIN]))

  def _reconstructor(self, main_units=MAIN, init='auto', layers=2):
    return decoders.ReconstructionDecoder(
        VOCAB, C, embed_dim=4, main_units=main_units, units=UNITS,
        num_layers=layers, head_units=(8,), init=init)

  @parameterized.product(layers=[1, 2, 3], use_function=[False, True])
  def test_teacher_forced_reconstruction_equals_step_loop(self, layers,
                                                          use_function):
    decoder = self._reconstructor(layers=layers)
    run = tf.function(decoder.call) if use_function else decoder.call
    loss, accuracy, logits = run(self.state, self.segment)
    h, c = (decoder.init_maps[0](self.state[0]),
            decoder.init_maps[1](self.state[1]))
    projected = decoder.bottom.projector()(self.segment[:-1])
    want = reference_logits(decoder, decoder.bottom.cell, projected, (h, c))
    self.assertEqual(logits.shape, (L - 1, N, C, VOCAB))
    self.assertAllClose(logits, want, atol=1e-5)
    want_loss = keras.losses.sparse_categorical_crossentropy(
        self.segment[1:], want, from_logits=True)
    self.assertAllClose(loss, tf.reduce_mean(want_loss, axis=[0, 2]),
                        atol=1e-5)
    want_accuracy = np.mean(np.argmax(want, -1) == self.segment[1:].numpy(),
                            axis=(0, 2))
    self.assertAllClose(accuracy, want_accuracy)

  def test_equal_sizes_copy_the_main_state(self):
    state = (tf.random.normal([N, UNITS]), tf.random.normal([N, UNITS]))
    decoder = self._reconstructor(main_units=UNITS)
    self.assertIsNone(decoder.init_maps)
    _, _, logits = decoder(state, self.segment)
    projected = decoder.bottom.projector()(self.segment[:-1])
    self.assertAllClose(
        logits, reference_logits(decoder, decoder.bottom.cell, projected,
                                 state), atol=1e-5)

  def test_project_init_maps_even_equal_sizes(self):
    decoder = self._reconstructor(main_units=UNITS, init='project')
    self.assertLen(decoder.init_maps, 2)

  @parameterized.parameters(False, True)
  def test_prediction_equals_step_loop(self, use_function):
    decoder = decoders.PredictionDecoder(
        VOCAB, C, main_units=MAIN, units=UNITS, num_layers=2, head_units=(8,))
    outputs = tf.random.normal([L, N, MAIN])
    run = tf.function(decoder.call) if use_function else decoder.call
    loss, _, logits = run(outputs, self.segment)
    want = reference_logits(decoder, decoder.bottom,
                            decoder.bottom.project(outputs),
                            decoder.bottom.zero_state(N))
    self.assertAllClose(logits, want, atol=1e-5)
    want_loss = keras.losses.sparse_categorical_crossentropy(
        self.segment, want, from_logits=True)
    self.assertAllClose(loss, tf.reduce_mean(want_loss, axis=[0, 2]),
                        atol=1e-5)


if __name__ == '__main__':
  tf.test.main()
