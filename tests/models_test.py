"""Tests of the token LSTM and the classifier."""

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from r_lstm import anchored, cells, encoders, models, registry, unroll
from r_lstm.objectives import base

CELLS = tuple(cells.CELLS)

B, T, VOCAB = 3, 12, 16


class TokenLSTMTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.product(cell=CELLS, design=['concat', 'sum', 'shared'])
  def test_projection_table_equals_embedding_then_matmul(self, cell, design):
    keras.utils.set_random_seed(0)
    encoder = encoders.TokenLSTM(VOCAB, channels=3, embed_dim=5, units=4,
                                 cell=cell, channel_embedding=design)
    tokens = np.random.RandomState(0).randint(0, VOCAB, (B, T, 3))
    tables = np.asarray(encoder.embedding)
    self.assertEqual(tables.shape, (1 if design == 'shared' else 3, VOCAB, 5))
    vectors = [tables[0 if design == 'shared' else c][tokens[..., c]]
               for c in range(3)]
    embedded = (sum(vectors) if design == 'sum'
                else np.concatenate(vectors, axis=-1))
    self.assertEqual(encoder.cell.kernel.shape[0], embedded.shape[-1])
    self.assertAllClose(encoder.embed(tf.constant(tokens)), embedded)
    want = embedded @ np.asarray(encoder.cell.kernel) + np.asarray(
        encoder.cell.input_bias)
    self.assertAllClose(encoder.projector()(tf.constant(tokens)), want,
                        atol=1e-5)

  def test_one_channel_makes_every_design_the_same_network(self):
    tokens = tf.constant(np.random.RandomState(0).randint(0, VOCAB, (B, T, 1)))
    projections = []
    for design in ('concat', 'sum', 'shared'):
      keras.utils.set_random_seed(0)
      encoder = encoders.TokenLSTM(VOCAB, channels=1, embed_dim=5, units=4,
                                   channel_embedding=design)
      projections.append(encoder.projector()(tokens))
    self.assertAllClose(projections[0], projections[1])
    self.assertAllClose(projections[0], projections[2])


class SequenceClassifierTest(tf.test.TestCase, parameterized.TestCase):

  def test_every_recurrent_backbone_names_a_cell(self):
    recurrent = {backbone.cell for backbone in registry.BACKBONES.values()
                 if backbone.recurrent}
    self.assertEqual(recurrent, set(CELLS))

  def setUp(self):
    super().setUp()
    keras.utils.set_random_seed(0)
    self.model = models.SequenceClassifier(
        num_classes=5, vocab_size=VOCAB, embed_dim=4, lstm_units=6,
        head_units=(7,), bptt=4)

  @parameterized.parameters(np.uint8, np.int32, np.int64)
  def test_time_major_is_an_exact_int32_transpose(self, dtype):
    vocab = np.iinfo(np.uint8).max if dtype == np.uint8 else 2**24
    tokens = np.random.RandomState(0).randint(0, vocab, [3, 5, 2]).astype(
        dtype)
    for transposed in (anchored.time_major(tokens),
                       tf.function(anchored.time_major)(tokens)):
      self.assertEqual(transposed.dtype, tf.int32)
      self.assertAllEqual(transposed, tokens.transpose(1, 0, 2))

  def test_logits_shape_and_windowed_equals_gradient_free_forward(self):
    tokens = tf.random.uniform([B, T, 1], 0, VOCAB, tf.int32)
    lengths = tf.constant([T, 9, 2])
    train_logits = self.model(tokens, lengths, training=True)
    self.assertEqual(train_logits.shape, (B, 5))
    self.assertAllClose(train_logits, self.model(tokens, lengths), atol=1e-6)

  @parameterized.product(bptt=[4, T], use_function=[False, True],
                         head_input=['h', 'state'], cell=CELLS)
  def test_supervised_gradient_reaches_only_the_last_bptt_tokens(
      self, bptt, use_function, head_input, cell):
    """Token 0 appears only before the window: its embedding gets no
    gradient unless the window covers the whole sequence. A head reading
    the cell c as well opens no other path."""
    self.model = models.SequenceClassifier(
        num_classes=5, vocab_size=VOCAB, embed_dim=4, lstm_units=6,
        head_units=(7,), bptt=bptt, head_input=head_input, cell=cell)
    rng = np.random.RandomState(1)
    tokens = rng.randint(1, VOCAB, (B, T, 1))
    tokens[:, :T - 4] = 0
    tokens[:, 0] = 1  # Token 1 also appears inside every window.
    tokens[:, -1] = 1

    def embedding_grad():
      with tf.GradientTape() as tape:
        logits = self.model(tf.constant(tokens), tf.fill([B], T),
                            training=True)
        loss = tf.reduce_sum(logits * tf.range(5, dtype=tf.float32))
      return tape.gradient(loss, self.model.encoder.embedding)

    grad = (tf.function(embedding_grad) if use_function else embedding_grad)()
    row_norms = np.abs(tf.convert_to_tensor(grad).numpy()[0]).sum(axis=-1)
    if bptt < T:
      self.assertEqual(row_norms[0], 0.0)
    else:
      self.assertGreater(row_norms[0], 0.0)
    self.assertGreater(row_norms[1], 0.0)

  def test_state_head_reads_h_then_c(self):
    model = models.SequenceClassifier(
        num_classes=5, vocab_size=VOCAB, embed_dim=4, lstm_units=6,
        head_units=(7,), head_input='state')
    tokens = tf.random.uniform([B, T, 1], 0, VOCAB, tf.int32)
    lengths = tf.constant([T, 9, 2])
    h, c = unroll.final_states(
        model.encoder.core(), tf.transpose(tokens, [1, 0, 2]), lengths,
        None)
    # The first dense layer's input rows 0..5 weigh h, rows 6..11 weigh c.
    self.assertEqual(model.head.layers[0].kernel.shape, (12, 7))
    self.assertAllClose(model(tokens, lengths),
                        model.head(np.concatenate([h, c], axis=-1)),
                        atol=1e-6)
    self.assertAllClose(model(tokens, lengths, training=True),
                        model(tokens, lengths), atol=1e-6)

  def test_zero_bptt_trains_only_the_head(self):
    self.model.bptt = 0
    tokens = tf.random.uniform([B, T, 1], 0, VOCAB, tf.int32)
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(self.model(tokens, tf.fill([B], T), training=True))
    encoder = self.model.encoder.trainable_variables
    grads = tape.gradient(loss, encoder + self.model.head.trainable_variables)
    # No gradient at all (autodiff), or an exactly zero one (the sequence
    # kernel over a window of no steps).
    self.assertTrue(all(g is None or not np.any(g)
                        for g in grads[:len(encoder)]))
    self.assertTrue(all(np.abs(g).sum() > 0 for g in grads[len(encoder):]))


class AuxiliaryObjectivesTest(tf.test.TestCase, parameterized.TestCase):
  """Each example's token at step t is b * T + t, used nowhere else, so the
  gradient reaching main-embedding row b * T + t is exactly the gradient at
  the embedded input of step t of example b (the decoders embed tokens with
  their own tables)."""

  T, L, AUX_BPTT = 24, 6, 4

  def setUp(self):
    super().setUp()
    keras.utils.set_random_seed(0)
    self.tokens = tf.reshape(tf.range(2 * self.T), [2, self.T, 1])
    self.lengths = tf.fill([2], self.T)
    self.labels = tf.constant([0, 1])

  def _model(self, aux_bptt=AUX_BPTT, decoder_embedding='own',
             decoder_order='forward', cell='lstm', **decoder_feeding):
    # With its own embeddings the decoder reads no main-LSTM input, so
    # d loss / d main embedding is exactly the gradient through the main
    # LSTM's inputs (the shared table is tested on its own below).
    return models.SequenceClassifier(
        num_classes=2, vocab_size=2 * self.T, embed_dim=3, lstm_units=5,
        head_units=(4,), bptt=3, auxiliary=('reconstruction', 'prediction'),
        decoder=base.DecoderOptions(
            aux_length=self.L, aux_bptt=aux_bptt, decoder_units=8,
            # Wide enough that no row's ReLUs are all dead (a zero gradient
            # that would have nothing to do with truncation).
            decoder_layers=2, decoder_head_units=(32,),
            decoder_embedding=decoder_embedding, decoder_order=decoder_order,
            **decoder_feeding), cell=cell)

  def _step_gradients(self, model, anchors, objective, use_function=False,
                      feed_seed=None):
    """|d loss / d embedded input| per (example, step), shape (2, T)."""
    def grad():
      with tf.GradientTape() as tape:
        scores = model.objectives(self.tokens, self.lengths, self.labels,
                                  anchors, feed_seed=feed_seed)
        loss = tf.reduce_sum(scores[objective][0])
      return tape.gradient(loss, model.encoder.embedding)
    g = (tf.function(grad) if use_function else grad)()
    if g is None:  # Not connected at all: zero everywhere.
      return np.zeros([2, self.T])
    g = tf.convert_to_tensor(g).numpy()[0]
    return np.abs(g).sum(axis=-1).reshape(2, self.T)

  def _anchors(self, reconstruction, prediction):
    valid = tf.constant([True, True])
    return {'reconstruction': (tf.constant(reconstruction), valid),
            'prediction': (tf.constant(prediction), valid)}

  def assertWindow(self, grads, allowed):
    """Non-zero exactly on the `allowed` steps of each example."""
    for b in range(2):
      inside = np.zeros(self.T, bool)
      for start, end in allowed[b]:
        inside[start:end] = True
      np.testing.assert_array_equal(grads[b][~inside], 0.0)
      self.assertTrue(np.all(grads[b][inside] > 0),
                      f'example {b}: {grads[b]}')

  @parameterized.product(use_function=(False, True),
                         order=('forward', 'reverse'), cell=CELLS,
                         rnn=('unroll', 'keras'))
  def test_reconstruction_gradient_windows(self, use_function, order, cell,
                                           rnn):
    # Example 0: overlapping windows [6, 10) and [8, 12); example 1: one
    # anchor at the end and one at the smallest position, l. The order in
    # which the decoder reconstructs does not move the window.
    anchors = self._anchors([[10, 12], [24, 6]], [[1, 1], [1, 1]])
    grads = self._step_gradients(
        self._model(decoder_order=order, cell=cell, decoder_rnn=rnn),
        anchors, 'reconstruction', use_function)
    self.assertWindow(grads, [[(6, 10), (8, 12)], [(20, 24), (2, 6)]])

  @parameterized.product(use_function=(False, True),
                         unfed_input=('none', 'sampled'), cell=CELLS,
                         rnn=('unroll', 'keras'))
  def test_reconstruction_gradient_windows_with_unfed_steps(
      self, use_function, unfed_input, cell, rnn):
    # Unfed steps read nothing or the decoder's own samples (through its
    # own table): neither opens a path into the main LSTM.
    model = self._model(decoder_feed_rate=0.5,
                        decoder_unfed_input=unfed_input, cell=cell,
                        decoder_rnn=rnn)
    anchors = self._anchors([[10, 12], [24, 6]], [[1, 1], [1, 1]])
    grads = self._step_gradients(model, anchors, 'reconstruction',
                                 use_function,
                                 feed_seed=tf.constant([1, 2], tf.int64))
    self.assertWindow(grads, [[(6, 10), (8, 12)], [(20, 24), (2, 6)]])

  @parameterized.product(use_function=(False, True), cell=CELLS,
                         rnn=('unroll', 'keras'))
  def test_prediction_gradient_windows(self, use_function, cell, rnn):
    # Outputs at positions a .. a+l-1 come from steps a-1 .. a+l-2.
    anchors = self._anchors([[6, 6], [6, 6]], [[3, 5], [18, 1]])
    grads = self._step_gradients(self._model(cell=cell, decoder_rnn=rnn),
                                 anchors, 'prediction', use_function)
    self.assertWindow(grads, [[(2, 8), (4, 10)], [(17, 23), (0, 6)]])

  @parameterized.parameters(*CELLS)
  def test_no_auxiliary_backpropagation_when_aux_bptt_is_zero(self, cell):
    model = self._model(aux_bptt=0, cell=cell)
    anchors = self._anchors([[10, 12], [24, 6]], [[1, 1], [1, 1]])
    grads = self._step_gradients(model, anchors, 'reconstruction')
    np.testing.assert_array_equal(grads, 0.0)
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(model.objectives(
          self.tokens, self.lengths, self.labels, anchors)[
              'reconstruction'][0])
    decoder_grads = tape.gradient(loss, model.reconstructor.trainable_variables)
    self.assertTrue(all(np.abs(g).sum() > 0 for g in decoder_grads))

  @parameterized.product(use_function=(False, True),
                         order=('forward', 'reverse'), cell=CELLS,
                         rnn=('unroll', 'keras'))
  def test_shared_embedding_gets_only_the_segment_reads(self, use_function,
                                                        order, cell, rnn):
    # No gradient through the main LSTM (aux_bptt 0): what reaches the
    # shared table are the decoder's own reads: every element of the
    # segment [a-l, a) but the one it reconstructs last, which is only
    # predicted (a-1 forward, a-l in reverse).
    model = self._model(aux_bptt=0, decoder_embedding='shared',
                        decoder_order=order, cell=cell, decoder_rnn=rnn)
    anchors = self._anchors([[10, 12], [24, 6]], [[1, 1], [1, 1]])
    grads = self._step_gradients(model, anchors, 'reconstruction',
                                 use_function)
    skip_first, skip_last = (0, 1) if order == 'forward' else (1, 0)
    self.assertWindow(grads, [
        [(a - self.L + skip_first, a - skip_last) for a in example]
        for example in ([10, 12], [24, 6])])

  @parameterized.product(order=('forward', 'reverse'), cell=CELLS)
  def test_decoder_starts_from_the_right_anchor_of_the_right_example(
      self, order, cell):
    model = self._model(decoder_embedding='shared', decoder_order=order,
                        cell=cell)
    anchors = self._anchors([[10, 17], [24, 6]], [[1, 1], [1, 1]])
    scores = model.objectives(self.tokens, self.lengths, self.labels,
                              anchors)
    inputs = tf.transpose(self.tokens, [1, 0, 2])
    core = model.encoder.core()
    for b, example_anchors in enumerate([[10, 17], [24, 6]]):
      losses = []
      for a in example_anchors:
        state = unroll.final_states(core, inputs, tf.fill([2], a), None)
        segment = inputs[a - self.L:a, b:b + 1]
        if order == 'reverse':
          segment = segment[::-1]
        losses.append(model.reconstructor(
            tuple(part[b:b + 1] for part in state), segment,
            main_embedding=model.encoder.embedding)[0][0])
      self.assertAllClose(scores['reconstruction'][0][b], np.mean(losses),
                          atol=1e-5)

  def test_predicted_segments_sit_at_the_right_steps(self):
    model = self._model()
    anchors = self._anchors([[10, 17], [24, 6]], [[3, 5], [18, 1]])
    predictions = model.predict_segments(self.tokens, self.lengths, anchors)
    steps, predicted = predictions['reconstruction']
    self.assertEqual(predicted.shape, (self.L - 1, 4, 1))
    # Row 1 is example 0's second anchor, 17: tokens 12..16 are predicted.
    self.assertAllEqual(steps[:, 1], range(12, 17))
    reverse = self._model(decoder_order='reverse').predict_segments(
        self.tokens, self.lengths, anchors)
    # Newest first: the decoder reads token 16 and predicts 15 down to 11.
    self.assertAllEqual(reverse['reconstruction'][0][:, 1], range(15, 10, -1))
    steps, predicted = predictions['prediction']
    self.assertEqual(predicted.shape, (self.L, 4, 1))
    self.assertAllEqual(steps[:, 2], range(18, 24))

  def test_invalid_anchors_are_masked(self):
    model = self._model()
    anchors = {'reconstruction': (tf.constant([[10], [12]]),
                                  tf.constant([True, False])),
               'prediction': (tf.constant([[1], [1]]),
                              tf.constant([False, True]))}
    scores = model.objectives(self.tokens, self.lengths, self.labels, anchors)
    self.assertGreater(scores['reconstruction'][0][0], 0)
    self.assertEqual(scores['reconstruction'][0][1], 0)
    self.assertEqual(scores['prediction'][0][0], 0)
    self.assertGreater(scores['prediction'][0][1], 0)


if __name__ == '__main__':
  tf.test.main()
