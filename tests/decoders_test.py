"""Tests of the auxiliary decoders against step-by-step reference loops."""

import importlib
from unittest import mock

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from r_lstm.objectives import prediction, reconstruction

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

  def _reconstructor(self, main_units=MAIN, init='auto', layers=2,
                     embedding='own', unfed_input='none'):
    return reconstruction.ReconstructionDecoder(
        VOCAB, C, embed_dim=4, main_units=main_units, units=UNITS,
        num_layers=layers, head_units=(8,), init=init, embedding=embedding,
        unfed_input=unfed_input)

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

  @parameterized.parameters(False, True)
  def test_unfed_steps_read_no_input(self, use_function):
    decoder = self._reconstructor()
    # Step 0 is listed as unfed but must read element 0 regardless.
    feed = tf.constant([[False] * N, [True] * N] + [[False] * N] * (L - 4)
                       + [[True, False, True]])
    run = tf.function(decoder.call) if use_function else decoder.call
    _, _, logits = run(self.state, self.segment, feed)
    h, c = (decoder.init_maps[0](self.state[0]),
            decoder.init_maps[1](self.state[1]))
    read = decoder.bottom.projector()(self.segment[:-1])
    feed = feed.numpy()
    feed[0] = True
    projected = tf.where(feed[:, :, None], read, decoder.bottom.cell.bias)
    self.assertAllClose(logits, reference_logits(
        decoder, decoder.bottom.cell, projected, (h, c)), atol=1e-5)

  def test_unfed_reconstruction_depends_only_on_state_and_first_element(
      self):
    decoder = self._reconstructor()
    unfed = tf.zeros([L - 1, N], tf.bool)
    _, _, logits = decoder(self.state, self.segment, unfed)
    changed = tf.concat([self.segment[:1], (self.segment[1:] + 1) % VOCAB],
                        axis=0)
    _, _, same = decoder(self.state, changed, unfed)
    self.assertAllClose(logits, same)
    _, _, fed = decoder(self.state, changed)
    self.assertNotAllClose(logits, fed)
    _, _, other_state = decoder((self.state[0] + 1, self.state[1]),
                                self.segment, unfed)
    self.assertNotAllClose(logits, other_state)

  @parameterized.parameters(False, True)
  def test_sampled_decoder_fed_every_step_is_teacher_forced(self,
                                                           use_function):
    decoder = self._reconstructor(unfed_input='sampled')
    run = tf.function(decoder.call) if use_function else decoder.call
    _, _, logits = run(self.state, self.segment, tf.ones([L - 1, N], tf.bool),
                       sample_seed=tf.constant([5, 6], tf.int64))
    _, _, teacher_forced = decoder(self.state, self.segment)
    self.assertAllClose(logits, teacher_forced, atol=1e-5)

  @parameterized.product(layers=[1, 2], use_function=[False, True])
  def test_unfed_steps_read_samples_of_the_previous_prediction(
      self, layers, use_function):
    decoder = self._reconstructor(layers=layers, unfed_input='sampled')
    # Step 0 is listed as unfed but must read element 0 regardless.
    feed = tf.constant([[False] * N, [True] * N] + [[False] * N] * (L - 4)
                       + [[True, False, True]])
    seed = tf.constant([5, 6], tf.int64)
    run = tf.function(decoder.call) if use_function else decoder.call
    loss, _, logits = run(self.state, self.segment, feed, sample_seed=seed)
    # Reference: one step at a time, step j reading the true element j or
    # a draw from step j - 1's prediction of it.
    project = decoder.bottom.projector()
    seeds = reconstruction.step_seeds(seed, L - 1)
    states = [(decoder.init_maps[0](self.state[0]),
               decoder.init_maps[1](self.state[1]))] + [
                   cell.zero_state(N) for cell in decoder.upper_cells]
    cells = [decoder.bottom.cell] + decoder.upper_cells
    want = []
    for j in range(L - 1):
      x = project(self.segment[j])
      if j:
        sampled = reconstruction.sample_tokens(want[-1], seeds[j])
        x = tf.where(feed[j][:, None], x, project(sampled))
      for i, cell in enumerate(cells):
        states[i] = cell.step(x if i == 0 else cell.project(x), states[i])
        x = states[i][0]
      want.append(tf.reshape(decoder.head(x), [N, C, VOCAB]))
    self.assertAllClose(logits, tf.stack(want), atol=1e-5)
    # Unfed true elements are never read.
    unfed_changed = tf.where(
        tf.concat([tf.ones([1, N], tf.bool), feed[1:], tf.ones([1, N], tf.bool)],
                  0)[:, :, None], self.segment, (self.segment + 1) % VOCAB)
    _, _, same = run(self.state, unfed_changed, feed, sample_seed=seed)
    self.assertAllClose(logits, same)
    self.assertEqual(loss.shape, (N,))

  def test_sampled_decoder_needs_a_seed_with_a_feed_mask(self):
    decoder = self._reconstructor(unfed_input='sampled')
    with self.assertRaisesRegex(ValueError, 'pass sample_seed'):
      decoder(self.state, self.segment, tf.zeros([L - 1, N], tf.bool))

  def test_sample_tokens_follow_the_softmax(self):
    probabilities = tf.constant([[0.2, 0.8, 0.0]] * 3)  # One row per channel.
    logits = tf.math.log(tf.tile(probabilities[tf.newaxis],
                                 [2000, 1, 1]) + 1e-9)
    seed = tf.constant([7, 8], tf.int64)
    tokens = reconstruction.sample_tokens(logits, seed)
    self.assertEqual(tokens.shape, (2000, 3))
    self.assertEqual(tokens.dtype, tf.int32)
    self.assertAllEqual(tokens, reconstruction.sample_tokens(logits, seed))
    counts = np.bincount(tokens.numpy().ravel(), minlength=3) / 6000
    self.assertAllClose(counts, [0.2, 0.8, 0.0], atol=0.02)

  @parameterized.parameters(0.0, 0.3, 1.0)
  def test_feed_mask_rate_and_determinism(self, rate):
    seed = tf.constant([3, 4], tf.int64)
    mask = reconstruction.feed_mask(400, 50, rate, seed)
    self.assertEqual(mask.shape, (400, 50))
    self.assertAllEqual(mask, reconstruction.feed_mask(400, 50, rate, seed))
    self.assertNear(np.mean(mask.numpy()), rate, 0.01)
    if 0 < rate < 1:
      self.assertNotAllEqual(mask, reconstruction.feed_mask(
          400, 50, rate, tf.constant([3, 5], tf.int64)))

  def test_equal_sizes_copy_the_main_state(self):
    state = (tf.random.normal([N, UNITS]), tf.random.normal([N, UNITS]))
    decoder = self._reconstructor(main_units=UNITS)
    self.assertIsNone(decoder.init_maps)
    _, _, logits = decoder(state, self.segment)
    projected = decoder.bottom.projector()(self.segment[:-1])
    self.assertAllClose(
        logits, reference_logits(decoder, decoder.bottom.cell, projected,
                                 state), atol=1e-5)

  @parameterized.parameters(False, True)
  def test_shared_embedding_reads_the_main_table(self, use_function):
    shared = self._reconstructor(embedding='shared')
    self.assertIsNone(shared.bottom.embedding)
    self.assertNotIn('embedding', ' '.join(v.path for v in shared.variables))
    main_embedding = tf.random.normal([C, VOCAB, 4])
    run = tf.function(shared.call) if use_function else shared.call
    _, _, logits = run(self.state, self.segment, None, main_embedding)
    h, c = (shared.init_maps[0](self.state[0]),
            shared.init_maps[1](self.state[1]))
    projected = shared.bottom.projector(main_embedding)(self.segment[:-1])
    self.assertAllClose(logits, reference_logits(
        shared, shared.bottom.cell, projected, (h, c)), atol=1e-5)
    # The same as a decoder with its own copy of that table.
    own = self._reconstructor(embedding='own')
    own.bottom.embedding.assign(main_embedding)
    rest = [v for v in own.weights if v is not own.bottom.embedding]
    self.assertLen(rest, len(shared.weights))
    for variable, value in zip(rest, shared.weights):
      variable.assign(value)
    self.assertAllClose(own(self.state, self.segment)[2], logits, atol=1e-5)
    with self.assertRaisesRegex(ValueError, 'pass main_embedding'):
      shared(self.state, self.segment)

  def test_project_init_maps_even_equal_sizes(self):
    decoder = self._reconstructor(main_units=UNITS, init='project')
    self.assertLen(decoder.init_maps, 2)

  @parameterized.parameters(False, True)
  def test_prediction_equals_step_loop(self, use_function):
    decoder = prediction.PredictionDecoder(
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


class KerasLayersTest(tf.test.TestCase, parameterized.TestCase):
  """`--decoder_rnn=keras`: one Keras recurrent layer per decoder layer, on
  the cells' own variables, computes what the `StackedCore` loop does."""

  def setUp(self):
    super().setUp()
    self.segment = tf.random.stateless_uniform([L, N, C], [1, 2], 0, VOCAB,
                                               tf.int32)
    self.state = tuple(tf.random.stateless_normal([N, UNITS], [3, k])
                       for k in range(2))
    self.main_outputs = tf.random.stateless_normal([L, N, MAIN], [4, 5])
    self.feed = tf.random.stateless_uniform([L - 1, N], [6, 7]) < 0.5

  def _twins(self, kind, cell, layers):
    """The same decoder twice (same weights), unroll and keras."""
    decoders = []
    for rnn in ('unroll', 'keras'):
      keras.utils.set_random_seed(3)
      if kind == 'reconstruction':
        decoders.append(reconstruction.ReconstructionDecoder(
            VOCAB, C, embed_dim=4, main_units=UNITS, units=UNITS,
            num_layers=layers, head_units=(8,), cell=cell, rnn=rnn))
      else:
        decoders.append(prediction.PredictionDecoder(
            VOCAB, C, main_units=MAIN, units=UNITS, num_layers=layers,
            head_units=(8,), cell=cell, rnn=rnn))
    for mine, twin in zip(*[d.weights for d in decoders]):
      self.assertAllEqual(mine, twin)
    return decoders

  def _run(self, decoder, kind, cell, feed):
    with tf.GradientTape() as tape:
      if kind == 'reconstruction':
        state = self.state if cell == 'lstm' else self.state[:1]
        loss, _, logits = decoder(state, self.segment, feed)
      else:
        loss, _, logits = decoder(self.main_outputs, self.segment)
      total = tf.reduce_sum(loss)
    return logits, tape.gradient(total, decoder.trainable_weights)

  @parameterized.product(kind=('reconstruction', 'prediction'),
                         cell=('lstm', 'gru'), layers=(1, 2),
                         use_function=(False, True))
  def test_keras_layers_equal_the_unroll(self, kind, cell, layers,
                                         use_function):
    unrolled, keras_layers = self._twins(kind, cell, layers)
    self.assertTrue(keras_layers.runs_keras_layers)
    self.assertFalse(unrolled.runs_keras_layers)
    run = tf.function(self._run) if use_function else self._run
    feeds = (None, self.feed) if kind == 'reconstruction' else (None,)
    for feed in feeds:
      want_logits, want_grads = run(unrolled, kind, cell, feed)
      logits, grads = run(keras_layers, kind, cell, feed)
      self.assertAllClose(logits, want_logits, atol=1e-5)
      self.assertLen(grads, len(want_grads))
      for got, want, weight in zip(grads, want_grads,
                                   keras_layers.trainable_weights):
        self.assertIsNotNone(got, msg=weight.path)
        self.assertAllClose(got, want, atol=1e-5, msg=weight.path)

  def test_keras_layers_compute_with_the_cells_own_variables(self):
    _, decoder = self._twins('reconstruction', 'lstm', 2)
    decoder(self.state, self.segment)
    layers = decoder.keras_layers
    for layer, cell in zip(layers, [decoder.bottom.cell]
                           + decoder.upper_cells):
      self.assertIs(layer.cell.kernel, cell.kernel)
      self.assertIs(layer.cell.recurrent_kernel, cell.recurrent_kernel)
      self.assertIs(layer.cell.bias, cell.bias)
    # The decoder's weights are its cells', listed once each.
    paths = [w.path for w in decoder.weights]
    self.assertEqual(len(paths), len(set(paths)))
    self.assertFalse(any('lstm_cell' in path for path in paths))
    cell = decoder.bottom.cell
    cell.kernel.assign_add(tf.ones_like(cell.kernel))
    _, _, after = decoder(self.state, self.segment)
    _, twin = self._twins('reconstruction', 'lstm', 2)
    _, _, before = twin(self.state, self.segment)
    self.assertNotAllClose(after, before)

  @parameterized.parameters(('lstm', '_cudnn_lstm'), ('gru', '_cudnn_gru'))
  def test_keras_hands_the_decoder_layers_to_cudnn_on_a_gpu(self, cell,
                                                             kernel):
    """With a GPU, Keras would call its cuDNN kernel with the cells' own
    weights. No GPU here: Keras' GPU check is faked true and its cuDNN call
    recorded, then refused as on a machine without the op, so that Keras
    falls back to its own loop. Reads Keras' private backend module: it
    is where Keras decides."""
    keras_rnn = importlib.import_module('keras.src.backend.tensorflow.rnn')
    _, decoder = self._twins('prediction', cell, 2)
    calls = []

    def cudnn(inputs, initial_state, *args, **kwargs):
      del inputs, initial_state
      calls.append(args[0] if cell == 'gru' else args[1])
      raise NotImplementedError

    with mock.patch.object(keras_rnn, '_is_gpu_available', return_value=True), \
         mock.patch.object(keras_rnn, kernel, side_effect=cudnn):
      _, _, logits = decoder(self.main_outputs, self.segment)
    self.assertLen(calls, 2)  # One call per decoder layer.
    kernels = [decoder.bottom.kernel, decoder.upper_cells[0].kernel]
    for got, want in zip(calls, kernels):
      self.assertAllEqual(got, want)
    self.assertEqual(logits.shape, (L, N, C, VOCAB))

  def test_auto_is_resolved_by_the_devices_and_saved_resolved(self):
    # Models saved before runs resolved --decoder_rnn hold 'auto'.
    decoder = reconstruction.ReconstructionDecoder(
        VOCAB, C, embed_dim=4, main_units=UNITS, units=UNITS, num_layers=2,
        head_units=(8,), rnn='auto')
    gpu = bool(tf.config.list_logical_devices('GPU'))
    self.assertEqual(decoder.runs_keras_layers, gpu)
    self.assertEqual(decoder.get_config()['rnn'],
                     'keras' if gpu else 'unroll')


if __name__ == '__main__':
  tf.test.main()
