"""Preemption-safe resume, the config guard and the non-finite guard."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from r_lstm import configs, reporting, train_lib
from tests import testing

TRAIN_STEPS = 24
# A deterministic r-LSTM run long enough to be killed in the middle.
RUN_FLAGS = [*testing.TINY_FLAGS, f'--train_steps={TRAIN_STEPS}',
             '--checkpoint_every=4', '--eval_every=8', '--deterministic',
             '--model=r_lstm', '--aux_length=4', '--decoder_units=6',
             '--decoder_head_units=6', '--decoder_feed_rate=0.5']


def checkpoint_values(workdir):
  """{variable name: value} of the latest checkpoint in `workdir`."""
  path = tf.train.latest_checkpoint(os.path.join(workdir, 'checkpoints'))
  reader = tf.train.load_checkpoint(path)
  return path, {name: reader.get_tensor(name)
                for name in reader.get_variable_to_shape_map()
                if not name.startswith('_CHECKPOINTABLE_OBJECT_GRAPH')}


def metric_rows(workdir):
  """metrics.jsonl without its wall-clock field and host rows (one per
  start)."""
  with open(os.path.join(workdir, reporting.METRICS_FILE)) as f:
    rows = [json.loads(line) for line in f]
  for row in rows:
    row.pop('steps_per_sec', None)
  return [row for row in rows if row['split'] != reporting.HOST_SPLIT]


class ExactResumeTest(tf.test.TestCase):

  def test_sigkilled_runs_resume_to_the_same_bits(self):
    tmp = self.create_tempdir().full_path
    npz = os.path.join(tmp, 'tiny.npz')
    testing.write_tiny_npz(npz, side=5)
    reference = os.path.join(tmp, 'reference')
    result = testing.run_module('r_lstm.train', f'--workdir={reference}',
                                f'--dataset=npz:{npz}', *RUN_FLAGS)
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])

    killed = os.path.join(tmp, 'killed')
    args = [sys.executable, '-m', 'r_lstm.train', f'--workdir={killed}',
            f'--dataset=npz:{npz}', *RUN_FLAGS]
    env = dict(os.environ, PYTHONPATH=testing.REPO, TF_CPP_MIN_LOG_LEVEL='2')
    metrics = os.path.join(killed, reporting.METRICS_FILE)
    rng = np.random.RandomState(0)
    kills = 0
    for _ in range(3):
      # Kill once the run has logged a random number of updates (or, if it
      # finishes first, not at all).
      target = rng.randint(2, TRAIN_STEPS)
      process = subprocess.Popen(args, cwd=testing.REPO, env=env,
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
      while process.poll() is None:
        if os.path.exists(metrics) and max(
            [row['step'] for row in metric_rows(killed)], default=0) >= target:
          process.send_signal(signal.SIGKILL)
          kills += 1
          break
        time.sleep(0.05)
      process.wait()
    self.assertGreaterEqual(kills, 2)
    result = subprocess.run(args, cwd=testing.REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])

    want_path, want = checkpoint_values(reference)
    got_path, got = checkpoint_values(killed)
    self.assertEqual(os.path.basename(got_path), os.path.basename(want_path))
    self.assertEqual(sorted(got), sorted(want))
    for name in want:
      np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    self.assertEqual(metric_rows(killed), metric_rows(reference))


class GuardsTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.data = testing.tiny_data()
    self.workdir = self.create_tempdir().full_path

  def test_resume_may_change_only_length_and_reporting(self):
    saved = testing.TINY_CONFIG
    self.assertEqual(configs.differences(saved, saved.replace(
        train_steps=99, eval_every=5, checkpoint_every=7, max_checkpoints=1,
        steps_per_loop=1, eval_batch_size=3, deterministic=True)), ())
    self.assertEqual(
        configs.differences(saved, saved.replace(model='r_lstm', seed=4)),
        ("model: 'lstm' -> 'r_lstm'", 'seed: 0 -> 4'))

  def test_config_saved_before_a_field_existed_keeps_its_old_meaning(self):
    fields = json.loads(testing.TINY_CONFIG.to_json())
    for field in configs.BEFORE_FIELD_EXISTED:
      del fields[field]
    old = configs.Config.from_json(json.dumps(fields))
    self.assertEqual(old.decoder_embedding, 'own')
    self.assertEqual(old.decoder_order, 'forward')
    self.assertEqual(old.decoder_unfed_input, 'none')
    self.assertEqual(old.head_input, 'h')

  def test_non_finite_loss_stops_training_without_saving_it(self):
    trainer = train_lib.Trainer(testing.TINY_CONFIG, self.workdir, self.data)
    objectives = trainer.model.objectives

    def poisoned(*args, **kwargs):
      """The supervised loss of update 3 is NaN."""
      scores = objectives(*args, **kwargs)
      loss, accuracy = scores['supervised']
      # A factor, so that the gradient is NaN too (a constant would not be).
      poison = tf.where(tf.equal(trainer.optimizer.iterations, 2),
                        float('nan'), 1.0)
      scores['supervised'] = (loss * poison, accuracy)
      return scores

    trainer.model.objectives = poisoned
    iterator = trainer.train_iterator()
    trainer.train(iterator, 2)
    good = trainer.save_checkpoint()
    with self.assertRaisesRegex(
        configs.NonFiniteError,
        f'update 3 has a non-finite loss .* Last good checkpoint: {good}'):
      trainer.train(iterator, 2)
    self.assertEqual(trainer.step, 3)  # Stopped at the bad update.
    for variable in trainer.model.variables:
      if not np.all(np.isfinite(variable.numpy())):
        break
    else:
      self.fail('the NaN update left every weight finite; the test is void')
    with self.assertRaisesRegex(configs.NonFiniteError,
                                f'not finite at update 3.*{good}'):
      trainer.save_checkpoint()
    self.assertEqual(trainer.checkpoints.checkpoints, [good])

  def test_resume_discards_rows_logged_after_the_last_checkpoint(self):
    path = os.path.join(self.workdir, reporting.METRICS_FILE)
    rows = [{'step': s, 'split': 'train', 'loss': 1.0} for s in (2, 4, 6)]
    with open(path, 'w') as f:
      f.writelines(json.dumps(r) + '\n' for r in rows)
      f.write('{"step": 8, "spl')  # Torn by a kill mid-write.
    reporting.Reporter(self.workdir, 10).discard_after(4)
    with open(path) as f:
      self.assertEqual([json.loads(line) for line in f], rows[:2])


if __name__ == '__main__':
  tf.test.main()
