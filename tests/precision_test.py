"""Mixed precision (`--precision`): bfloat16 / float16 arithmetic, float32
weights, logits and losses; the loss scale of float16."""

import os

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from r_lstm import steps
from r_lstm import trainer as trainer_lib
from tests import testing

MIXED = ('mixed_bfloat16', 'mixed_float16')
COMPUTE = {'mixed_bfloat16': tf.bfloat16, 'mixed_float16': tf.float16}


def _compute_dtypes(model):
  layers = model._flatten_layers()  # pylint: disable=protected-access
  return {layer.compute_dtype for layer in layers}


class PrecisionTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.data = testing.tiny_data()

  def _trainer(self, **fields):
    return trainer_lib.Trainer(testing.TINY_CONFIG.replace(**fields),
                               self.data)

  @parameterized.parameters(*[
      (precision, backbone, auxiliary, rnn) for precision in MIXED
      for backbone, auxiliary, rnn in (
          ('lstm', 'none', 'unroll'), ('gru', 'none', 'unroll'),
          ('lstm', 'both', 'unroll'), ('gru', 'both', 'unroll'),
          ('lstm', 'both', 'keras'), ('transformer', 'none', 'unroll'))])
  def test_an_update_changes_every_weight_and_keeps_float32_weights(
      self, precision, backbone, auxiliary, rnn):
    # Keras' layers run the teacher-forced decoders: fed steps and unfed
    # ones that read no input (sampled ones have their own loop).
    trainer = self._trainer(
        backbone=backbone, auxiliary=auxiliary, precision=precision,
        decoder_feed_rate=0.5,
        decoder_unfed_input='none' if rnn == 'keras' else 'sampled',
        decoder_rnn=rnn)
    self.assertIn(COMPUTE[precision].name, _compute_dtypes(trainer.model))
    if precision == 'mixed_float16':
      # Start the loss scale where float16 gradients stay finite: the
      # default 2**15 overflows on the first updates, which are then
      # skipped (tested below).
      trainer.optimizer.dynamic_scale.assign(1.0)
    before = [v.numpy().copy() for v in trainer.model.trainable_variables]
    logs = trainer.train(trainer.train_iterator(), 1)
    self.assertEqual(trainer.step, 1)
    self.assertTrue(np.isfinite(logs['loss/total']))
    for variable, old in zip(trainer.model.trainable_variables, before):
      self.assertEqual(variable.dtype, 'float32', variable.path)
      if variable.path.endswith('attention/key/bias'):
        continue  # Softmax cancels it: its gradient is exactly zero.
      self.assertNotAllClose(variable.numpy(), old, msg=variable.path)

  @parameterized.product(precision=MIXED, auxiliary=['none', 'both'])
  def test_logits_are_float32_and_near_the_float32_models(self, precision,
                                                          auxiliary):
    full = self._trainer(auxiliary=auxiliary).model
    mixed = self._trainer(auxiliary=auxiliary, precision=precision).model
    for source, target in zip(full.weights, mixed.weights):
      target.assign(source)
    test = self.data.test
    want = full(test.tokens, test.lengths)
    got = mixed(test.tokens, test.lengths)
    self.assertEqual(got.dtype, tf.float32)
    self.assertNotAllEqual(got, want)  # It does compute in lower precision.
    self.assertAllClose(got, want, atol=0.05)

  def test_supervised_gradient_still_stops_at_the_window(self):
    """The truncation rule holds in bfloat16: a token seen only before the
    last `bptt` steps gets no embedding gradient."""
    trainer = self._trainer(precision='mixed_bfloat16', bptt=3)
    model = trainer.model
    tokens = np.full([2, 8, 1], 7, np.int32)
    tokens[:, :3] = 0  # Token 0 only before the window of 3.
    with tf.GradientTape() as tape:
      logits = model(tokens, tf.fill([2], 8), training=True)
      loss = tf.reduce_sum(logits)
    grad = tf.convert_to_tensor(tape.gradient(loss, model.encoder.embedding))
    self.assertEqual(grad.dtype, tf.float32)
    self.assertAllEqual(grad[0, 0], tf.zeros_like(grad[0, 0]))
    self.assertNotAllEqual(grad[0, 7], tf.zeros_like(grad[0, 7]))

  def test_float16_overflow_skips_the_update_and_lowers_the_scale(self):
    trainer = self._trainer(backbone='transformer', precision='mixed_float16')
    optimizer = trainer.optimizer
    self.assertIsInstance(optimizer, keras.optimizers.LossScaleOptimizer)
    optimizer.dynamic_scale.assign(2.0**60)  # Overflows float16 at once.
    before = [v.numpy().copy() for v in trainer.model.trainable_variables]
    logs = trainer.train(trainer.train_iterator(), 1)  # No NonFiniteError.
    self.assertEqual(trainer.step, 0)  # Skipped, not counted.
    self.assertEqual(float(optimizer.dynamic_scale), 2.0**59)
    self.assertTrue(np.isfinite(logs['loss/total']))
    for variable, old in zip(trainer.model.trainable_variables, before):
      self.assertAllEqual(variable.numpy(), old, msg=variable.path)

  def test_float16_update_matches_the_float32_update(self):
    """The scaled gradient, clipped at clip_norm times the scale and
    unscaled by the optimizer, is the float32 update to float16's
    precision."""
    batch = testing.tiny_split(4, seed=3)
    dataset = tf.data.Dataset.from_tensors(
        (tf.cast(batch.tokens, tf.int32), batch.lengths, batch.labels))
    results = {}
    for precision in ('float32', 'mixed_float16'):
      trainer = self._trainer(precision=precision, clip_norm=0.01)
      if precision == 'mixed_float16':
        trainer.optimizer.dynamic_scale.assign(64.0)
      logs = trainer.train(iter(dataset.repeat()), 1)
      results[precision] = (logs['grad_norm'],
                            [v.numpy() for v in trainer.model.weights])
    (norm_32, weights_32), (norm_16, weights_16) = (
        results['float32'], results['mixed_float16'])
    self.assertAllClose(norm_16, norm_32, rtol=0.02)
    for got, want in zip(weights_16, weights_32):
      self.assertAllClose(got, want, atol=2e-4)

  def test_keras_file_keeps_the_policy(self):
    model = self._trainer(auxiliary='both', precision='mixed_bfloat16').model
    path = os.path.join(self.create_tempdir().full_path, 'model.keras')
    model.save(path)
    loaded = keras.models.load_model(path)
    self.assertIn('bfloat16', _compute_dtypes(loaded))
    test = self.data.test
    self.assertAllEqual(loaded(test.tokens, test.lengths),
                        model(test.tokens, test.lengths))

  def test_keras_fit_trains_under_mixed_bfloat16(self):
    config = testing.TINY_CONFIG.replace(auxiliary='reconstruction',
                                         precision='mixed_bfloat16')
    model = trainer_lib.build_model(config, self.data)
    model.compile(optimizer=trainer_lib.make_optimizer(config),
                  recipe=steps.Recipe.from_config(config))
    split = self.data.train
    dataset = tf.data.Dataset.from_tensor_slices(
        ((tf.cast(split.tokens, tf.int32), split.lengths),
         split.labels)).batch(8)
    history = model.fit(dataset, epochs=1, verbose=0)
    self.assertTrue(np.isfinite(history.history['loss'][-1]))


if __name__ == '__main__':
  tf.test.main()
