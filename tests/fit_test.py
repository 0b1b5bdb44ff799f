"""Tests of Keras `compile` + `fit` / `evaluate` on the classifiers."""

import os

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from r_lstm import input_pipeline, steps
from r_lstm import trainer as trainer_lib
from tests import testing


def _batches(split, repeat=1):
  return tf.data.Dataset.from_tensors(
      (split.tokens, split.lengths, split.labels)).repeat(repeat)


class FitTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.data = testing.tiny_data()
    self.workdir = self.create_tempdir().full_path

  def _trainer_and_fit_model(self, config):
    trainer = trainer_lib.Trainer(config, self.data)
    model = trainer_lib.build_model(config, self.data)
    for source, target in zip(trainer.model.weights, model.weights):
      target.assign(source)
    model.compile(optimizer=trainer_lib.make_optimizer(config),
                  recipe=steps.Recipe.from_config(config))
    return trainer, model

  # Both decoders; the two phases; the Transformer's objectives.
  @parameterized.parameters(('rp_lstm', 0), ('r_lstm', 1),
                            ('transformer', 0))
  def test_fit_makes_the_command_lines_updates(self, model, pretrain_steps):
    config = testing.TINY_CONFIG.replace(model=model,
                                         pretrain_steps=pretrain_steps,
                                         decoder_feed_rate=0.5)
    trainer, fitted = self._trainer_and_fit_model(config)
    batch = testing.tiny_split(4, seed=3)
    iterator = iter(_batches(batch, repeat=2))
    for _ in range(2):  # With pretraining: one update of each phase.
      trainer.train(iterator, 1)
    history = fitted.fit(input_pipeline.fit_dataset(_batches(batch, 2)),
                         epochs=1, verbose=0)
    self.assertEqual(int(fitted.optimizer.iterations), 2)
    for got, want in zip(fitted.trainable_variables,
                         trainer.model.trainable_variables):
      self.assertAllClose(got, want, atol=1e-5, msg=want.path)
    self.assertIn('loss', history.history)
    self.assertIn('grad_norm', history.history)
    for objective in trainer.objective_names:
      for name in steps.metric_names(objective):
        self.assertIn(name, history.history)

  def test_compile_refuses_losses_of_its_own(self):
    model = trainer_lib.build_model(testing.TINY_CONFIG, self.data)
    with self.assertRaisesRegex(ValueError, 'own objectives'):
      model.compile(optimizer='adam', loss='mse')

  def test_fit_runs_keras_callbacks_and_evaluate_scores_every_example(self):
    config = testing.TINY_CONFIG.replace(auxiliary='reconstruction')
    _, model = self._trainer_and_fit_model(config)
    train = input_pipeline.fit_dataset(input_pipeline.train_dataset(
        self.data.train, 4, seed=0))
    logs = os.path.join(self.workdir, 'logs')
    weights = os.path.join(self.workdir, 'fit.weights.h5')
    model.fit(train, epochs=2, steps_per_epoch=3, verbose=0, callbacks=[
        keras.callbacks.TensorBoard(logs),
        keras.callbacks.ModelCheckpoint(weights, save_weights_only=True)])
    self.assertEqual(int(model.optimizer.iterations), 6)
    self.assertTrue(os.path.isfile(weights))
    self.assertTrue(tf.io.gfile.glob(os.path.join(logs, 'train', 'events*')))
    test = self.data.test
    results = model.evaluate(input_pipeline.fit_dataset(
        input_pipeline.eval_dataset(test, 10)), return_dict=True, verbose=0)
    logits = model(test.tokens, test.lengths)
    self.assertAllClose(results['accuracy'],
                        np.mean(np.argmax(logits, -1) == test.labels),
                        atol=1e-6)


if __name__ == '__main__':
  tf.test.main()
