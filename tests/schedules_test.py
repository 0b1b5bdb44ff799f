"""The learning rate schedules and early stopping: their values against
NumPy, what a run logs, and that a resumed run continues them exactly."""

import json
import os

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from r_lstm import early_stopping, input_pipeline, learning_rates, summaries
from r_lstm import train_lib
from r_lstm import trainer as trainer_lib
from tests import testing


def numpy_rate(step, peak, shape, warmup, total):
  """The rate of the update after `step` applied updates, from the
  definitions: a linear warm-up to `peak`, then the shape's decay to 0 at
  step `total`."""
  if step < warmup:
    return peak * (step + 1) / warmup
  done = min((step - warmup) / (total - warmup), 1.0)
  return peak * {'constant': 1.0, 'cosine': 0.5 * (1 + np.cos(np.pi * done)),
                 'linear': 1.0 - done}[shape]


def tiny_npz_config(test_case, **fields):
  """TINY_CONFIG on a tiny npz of 16-step images, with `fields`."""
  path = os.path.join(test_case.create_tempdir().full_path, 'tiny.npz')
  testing.write_tiny_npz(path)
  return testing.TINY_CONFIG.replace(dataset=f'npz:{path}', **fields)


def logged(workdir, split):
  with open(os.path.join(workdir, summaries.METRICS_FILE)) as f:
    rows = [json.loads(line) for line in f]
  return {row['step']: row for row in rows if row['split'] == split}


class LearningRateTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.product(shape=['constant', 'cosine', 'linear'],
                         warmup=[0, 3])
  def test_schedule_equals_numpy(self, shape, warmup):
    schedule = learning_rates.WarmupThenDecay(0.5, shape, warmup, 10)
    for step in range(12):
      self.assertAllClose(float(schedule(step)),
                          numpy_rate(step, 0.5, shape, warmup, 10),
                          msg=f'step {step}')
    self.assertAllClose(float(tf.function(schedule)(tf.constant(4))),
                        numpy_rate(4, 0.5, shape, warmup, 10))

  def test_the_papers_runs_keep_a_plain_number(self):
    rate = learning_rates.learning_rate(testing.TINY_CONFIG)
    self.assertEqual(rate, testing.TINY_CONFIG.learning_rate)
    optimizer = trainer_lib.make_optimizer(testing.TINY_CONFIG)
    self.assertNotIsInstance(optimizer.learning_rate,
                             learning_rates.WarmupThenDecay)

  def test_serializes(self):
    schedule = learning_rates.WarmupThenDecay(0.5, 'cosine', 3, 10)
    again = learning_rates.WarmupThenDecay.from_config(schedule.get_config())
    self.assertAllClose(float(again(5)), float(schedule(5)))

  def test_updates_use_the_schedule_and_a_resumed_run_continues_it(self):
    config = tiny_npz_config(self, lr_schedule='linear', warmup_steps=2,
                             train_steps=6)
    data = input_pipeline.load(config)
    straight = self.create_tempdir().full_path
    train_lib.train_and_evaluate(config, straight)
    for step, row in logged(straight, 'train').items():
      # The rate logged after a loop is the next update's.
      self.assertAllClose(row['learning_rate'],
                          numpy_rate(step, 1e-2, 'linear', 2, 6))
    # The same run stopped after 2 updates and resumed: equal weights.
    resumed = self.create_tempdir().full_path
    run = train_lib.Run.build(config, resumed, data)
    run.trainer.train(run.trainer.train_iterator(), 2)
    run.checkpoints.save()
    train_lib.train_and_evaluate(config, resumed)
    finished = [train_lib.load_trained(workdir).model.get_weights()
                for workdir in (straight, resumed)]
    for a, b in zip(*finished):
      self.assertAllClose(a, b, rtol=1e-6, atol=1e-7)


class EarlyStoppingTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(
      ('accuracy', [0.5, 0.6, 0.6, 0.55], 2, True),
      ('accuracy', [0.5, 0.6, 0.6, 0.7], 2, False),
      ('accuracy', [0.5, 0.6, 0.6], 2, False),
      ('loss', [2.0, 1.0, 1.5, 1.2], 2, True),
      ('loss', [2.0, 1.0, 1.5, 0.9], 2, False),
      ('accuracy', [0.5, 0.4, 0.3, 0.2], 0, False),
  )
  def test_stops_after_patience_evaluations_without_improvement(
      self, metric, values, patience, stops):
    config = testing.TINY_CONFIG.replace(early_stopping_patience=patience,
                                         early_stopping_metric=metric)
    stopping = early_stopping.EarlyStopping(
        config, [(2 * (i + 1), v) for i, v in enumerate(values)])
    self.assertEqual(stopping.stopped, stops)
    self.assertEqual(stopping.reason() is not None, stops)

  def test_a_run_stops_early_and_stays_stopped(self):
    # A learning rate near 0 leaves the accuracy where it is: the run
    # stops after the first evaluation and `patience` more, and is
    # checkpointed there.
    config = tiny_npz_config(self, learning_rate=1e-12, train_steps=20,
                             early_stopping_patience=2)
    workdir = self.create_tempdir().full_path
    train_lib.train_and_evaluate(config, workdir)
    evaluations = logged(workdir, 'test')
    self.assertEqual(sorted(evaluations), [2, 4, 6])
    run = train_lib.load_trained(workdir)
    self.assertEqual(run.step, 6)
    # Run again: nothing more is trained.
    train_lib.train_and_evaluate(config, workdir)
    self.assertEqual(train_lib.load_trained(workdir).step, 6)
    # Patience raised on resume: training goes on from update 6.
    train_lib.train_and_evaluate(
        config.replace(early_stopping_patience=4), workdir)
    self.assertEqual(train_lib.load_trained(workdir).step, 10)


if __name__ == '__main__':
  tf.test.main()
