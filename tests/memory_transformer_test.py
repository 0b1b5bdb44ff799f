"""The memory Transformer's exact truncation, proved as the LSTM's is
(tests/models_test.py): each example's token at step t is b * T + t, used
nowhere else, so the gradient reaching embedding row b * T + t is exactly
the gradient at step t of example b. Windows round out to whole segments
of S = 4 steps."""

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from r_lstm import anchored, configs, memory, memory_transformer
from r_lstm import segment_core, unroll
from r_lstm.objectives import base

T, S, L = 24, 4, 6
SPANS = ('segment', 'previous')


def _model(attention_span='segment', bptt=8, memory_tokens=2, aux_bptt=4,
           auxiliary=('reconstruction', 'prediction')):
  keras.utils.set_random_seed(0)
  return memory_transformer.MemoryTransformerClassifier(
      num_classes=2, vocab_size=2 * T, embed_dim=3, units=8, layers=2,
      num_heads=2, ffn_units=8, segment_length=S,
      memory_tokens=memory_tokens, attention_span=attention_span,
      head_units=(32,), bptt=bptt,
      auxiliary=auxiliary if memory_tokens else (),
      # Wide decoder heads: no row's ReLUs all dead (a zero gradient that
      # would have nothing to do with truncation).
      decoder=base.DecoderOptions(aux_length=L, aux_bptt=aux_bptt,
                                  decoder_units=8, decoder_head_units=(32,)))


TOKENS = tf.reshape(tf.range(2 * T), [2, T, 1])
LENGTHS = tf.fill([2], T)
LABELS = tf.constant([0, 1])


def _step_gradients(model, loss_fn, use_function):
  """|d loss / d embedded input| per (example, step), shape (2, T)."""
  def grad():
    with tf.GradientTape() as tape:
      loss = loss_fn()
    return tape.gradient(loss, model.embedding)
  g = (tf.function(grad) if use_function else grad)()
  if g is None:
    return np.zeros([2, T])
  g = tf.convert_to_tensor(g).numpy()[0]
  return np.abs(g).sum(axis=-1).reshape(2, T)


class MemoryTransformerTest(tf.test.TestCase, parameterized.TestCase):

  def assertWindow(self, grads, allowed):
    """Non-zero exactly on the `allowed` steps of each example."""
    for b, spans in enumerate(allowed):
      inside = np.zeros(T, bool)
      for start, end in spans:
        inside[start:end] = True
      np.testing.assert_array_equal(grads[b][~inside], 0.0)
      self.assertTrue(np.all(grads[b][inside] > 0), f'example {b}: '
                      f'{grads[b]}')

  def _supervised(self, model, use_function):
    def loss():
      logits = model(TOKENS, LENGTHS, training=True)
      return tf.reduce_sum(logits * tf.constant([1.0, -2.0]))
    return _step_gradients(model, loss, use_function)

  @parameterized.product(span=SPANS, use_function=(False, True))
  def test_supervised_gradient_reaches_the_last_bptt_steps_in_segments(
      self, span, use_function):
    # K = 8: segments 4 and 5 exactly; K = 6 rounds out to the same two;
    # K = T is full backpropagation. With the cache the window's first
    # segment reads segment 3's hidden states, cut like the memory.
    for bptt, first in ((8, 16), (6, 16), (T, 0)):
      grads = self._supervised(_model(span, bptt), use_function)
      self.assertWindow(grads, [[(first, T)]] * 2)

  @parameterized.parameters(*SPANS)
  def test_without_memory_nothing_crosses_a_segment_but_the_cache(self, span):
    # The floor: with no memory only the last segment reaches the
    # classifier, whatever K; with the cache, each of the 2 layers reaches
    # one segment further back (Transformer-XL's receptive field).
    grads = self._supervised(_model(span, bptt=T, memory_tokens=0), False)
    first = T - 3 * S if span == 'previous' else T - S
    self.assertWindow(grads, [[(first, T)]] * 2)

  def test_windowed_forward_equals_gradient_free_forward(self):
    model = _model('previous')
    lengths = tf.constant([T, 13])
    self.assertAllClose(model(TOKENS, lengths, training=True),
                        model(TOKENS, lengths), atol=1e-5)

  def _objective(self, model, objective, anchors, use_function):
    valid = tf.constant([True, True])
    other = {'reconstruction': [[L, L], [L, L]],
             'prediction': [[1, 1], [1, 1]]}
    other[objective] = anchors
    anchor_map = {name: (tf.constant(value), valid)
                  for name, value in other.items()}

    def loss():
      scores = model.objectives(TOKENS, LENGTHS, LABELS, anchor_map,
                                supervised=False)
      return tf.reduce_sum(scores[objective][0])
    return _step_gradients(model, loss, use_function)

  @parameterized.product(span=SPANS, use_function=(False, True))
  def test_reconstruction_gradient_windows(self, span, use_function):
    # Anchors move down to segment boundaries, no lower than the first at
    # or above l = 6: 10 -> 8, 13 -> 12, 24, 7 -> 8. aux_bptt = 4 is one
    # segment before each; aux_bptt = 5 rounds out to two.
    grads = self._objective(_model(span), 'reconstruction',
                            [[10, 13], [24, 7]], use_function)
    self.assertWindow(grads, [[(4, 8), (8, 12)], [(20, 24), (4, 8)]])
    grads = self._objective(_model(span, aux_bptt=5), 'reconstruction',
                            [[10, 13], [24, 7]], use_function)
    self.assertWindow(grads, [[(0, 8), (4, 12)], [(16, 24), (0, 8)]])

  @parameterized.product(span=SPANS, use_function=(False, True))
  def test_prediction_gradient_windows_and_no_future_tokens(
      self, span, use_function):
    # Anchors 5 -> 4, 9 -> 8, 17 -> 16, 2 -> 4 (the first boundary >= 1).
    # The decoder reads the outputs at steps a - 1 .. a + l - 2, so the
    # window's segments start at the one holding a - 1; within them, causal
    # attention keeps the later tokens of the last segment (after a + l - 2)
    # out of every output it reads.
    grads = self._objective(_model(span), 'prediction', [[5, 9], [17, 2]],
                            use_function)
    self.assertWindow(grads, [[(0, 9), (4, 13)], [(12, 21), (0, 9)]])

  def test_an_anchor_that_leaves_its_range_is_dropped(self):
    model = _model()
    lengths = tf.constant([T, 9])
    aligned = model._align_anchors(
        {'reconstruction': (tf.constant([[7], [7]]), tf.constant([True,
                                                                 True])),
         'prediction': (tf.constant([[3], [3]]), tf.constant([True, True]))},
        lengths)
    self.assertAllEqual(aligned['reconstruction'][0], [[8], [8]])
    self.assertAllEqual(aligned['reconstruction'][1], [True, True])
    # Prediction needs l = 6 steps after 4: example 1 (9 steps) has 5.
    self.assertAllEqual(aligned['prediction'][0], [[4], [4]])
    self.assertAllEqual(aligned['prediction'][1], [True, False])

  @parameterized.parameters(False, True)
  def test_unrestricted_attention_over_a_full_cache_leaks(self, use_function):
    """Why attention must be restricted: if each segment attended to every
    earlier segment's hidden states (a full cache kept in the graph),
    cutting the memory at the window's start would not truncate anything;
    the window reads the older tokens directly. The same blocks with the
    one-segment cache cut at the window (the model's own path) stay
    exact."""
    model = _model('previous', bptt=8)
    core = model.core()
    window_start = T // S - 2

    def full_cache_loss():
      projected = core.project(segment_core.segments(
          anchored.time_major(TOKENS), LENGTHS, S))
      memory_state = core.zero_state(2)[0]
      cache, cache_valid = None, None
      outputs = None
      for k in range(T // S):
        if k == window_start:
          memory_state = tf.stop_gradient(memory_state)  # The cut.
        tokens, valid = projected[k, ..., :-1], projected[k, ..., -1] > 0.5
        memory_state, layers = core.segment(tokens, valid, memory_state,
                                            cache, cache_valid)
        cache = (layers[:-1] if cache is None else
                 [tf.concat([c, h], 1) for c, h in zip(cache, layers[:-1])])
        cache_valid = (valid if cache_valid is None
                       else tf.concat([cache_valid, valid], 1))
        outputs = layers[-1]
      return tf.reduce_sum(memory_state) + tf.reduce_sum(outputs)

    leaked = _step_gradients(model, full_cache_loss, use_function)
    self.assertTrue(np.all(leaked[:, :window_start * S] > 0))
    exact = self._supervised(model, use_function)
    np.testing.assert_array_equal(exact[:, :window_start * S], 0.0)

  def test_segments_pad_and_mark_the_steps_of_each_example(self):
    inputs = anchored.time_major(tf.reshape(tf.range(2 * 6), [2, 6, 1]))
    blocks = segment_core.segments(inputs, tf.constant([6, 3]), 4)
    self.assertEqual(blocks.shape, (2, 2, 4, 2))
    self.assertAllEqual(blocks[0, 1, :, 0], [6, 7, 8, 9])
    self.assertAllEqual(blocks[1, 0, :, 1], [1, 1, 0, 0])
    self.assertAllEqual(blocks[0, 1, :, 1], [1, 1, 1, 0])
    self.assertAllEqual(blocks[1, 1, :, 1], [0, 0, 0, 0])

  def test_segment_window_rounds_out(self):
    window = unroll.Window.per_example(tf.constant([[9], [24]]),
                                       tf.constant([[6], [4]]), 6)
    rounded = segment_core.segment_window(window, S)
    self.assertAllEqual(rounded.end, [3, 6])
    self.assertAllEqual(rounded.length, [3, 1])
    self.assertEqual(int(rounded.max_length), 3)


class MemoryTermsTest(tf.test.TestCase):

  def test_windows_count_whole_segments_and_objectives_add_theirs(self):
    shape = memory.Shape(max_length=784, channels=1, vocab_size=256,
                         num_classes=10)
    config = configs.Config(backbone='memory_transformer', bptt=112)
    window = 'supervised window (batch_size x bptt)'
    short = memory.update_terms(config, shape)
    # 4 segments plus the one a window not on a boundary adds.
    self.assertEqual(memory.update_terms(config.replace(bptt=784),
                                         shape)[window] * 5,
                     short[window] * 29)
    with_r = memory.update_terms(config.replace(auxiliary='reconstruction'),
                                 shape)
    self.assertIn('reconstruction (batch_size x num_anchors x aux_length)',
                  with_r)
    memory.check(config.replace(auxiliary='both'), shape,
                 available=12 * 2 ** 30)


if __name__ == '__main__':
  tf.test.main()
