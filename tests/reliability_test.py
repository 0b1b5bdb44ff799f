"""Preemption-safe resume, the config guard and the non-finite guard."""

import json
import os
import signal
import subprocess
import sys
import time
from unittest import mock

import numpy as np
import tensorflow as tf

from r_lstm import cli, config_migration, config_rules, configs, errors
from r_lstm import evaluate, locks, summaries, train_lib
from r_lstm import trainer as trainer_lib
from r_lstm import workdir as workdir_lib
from tests import testing

TRAIN_STEPS = 24
# A deterministic r-LSTM run long enough to be killed in the middle.
RUN_FLAGS = [*testing.TINY_FLAGS, f'--train_steps={TRAIN_STEPS}',
             '--checkpoint_every=4', '--eval_every=8', '--deterministic',
             '--auxiliary=reconstruction', '--aux_length=4',
             '--decoder_units=6', '--decoder_head_units=6',
             '--decoder_feed_rate=0.5']


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
  with open(os.path.join(workdir, summaries.METRICS_FILE)) as f:
    rows = [json.loads(line) for line in f]
  for row in rows:
    row.pop('steps_per_sec', None)
  return [row for row in rows if row['split'] != summaries.HOST_SPLIT]


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
    metrics = os.path.join(killed, summaries.METRICS_FILE)
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


def _env():
  return dict(os.environ, PYTHONPATH=testing.REPO, TF_CPP_MIN_LOG_LEVEL='2')


def _start(workdir, npz, *flags):
  return subprocess.Popen(
      [sys.executable, '-m', 'r_lstm.train', f'--workdir={workdir}',
       f'--dataset=npz:{npz}', *RUN_FLAGS, *flags],
      cwd=testing.REPO, env=_env(), stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)


def _wait_for_update(process, workdir, update):
  """Returns once `workdir` logged an update >= `update`."""
  metrics = os.path.join(workdir, summaries.METRICS_FILE)
  deadline = time.monotonic() + 240
  while time.monotonic() < deadline:
    if process.poll() is not None:
      raise AssertionError(f'the run ended first: {process.stderr.read()}')
    if os.path.exists(metrics) and max(
        [row['step'] for row in metric_rows(workdir)], default=0) >= update:
      return
    time.sleep(0.05)
  raise AssertionError(f'no update {update} in time')


def _one_line(test, stderr, prefix):
  lines = [line for line in stderr.splitlines() if line.startswith(prefix)]
  test.assertLen(lines, 1, msg=stderr[-3000:])
  test.assertNotIn('Traceback', stderr)
  return lines[0]


def _checkpoint_number(path):
  return int(path.rsplit('-', 1)[1])


class OneWriterTest(tf.test.TestCase):
  """Signals, a second trainer, lost state files and leftovers, through
  the real command line."""

  def setUp(self):
    super().setUp()
    self.tmp = self.create_tempdir().full_path
    self.npz = os.path.join(self.tmp, 'tiny.npz')
    testing.write_tiny_npz(self.npz, side=5)
    self.workdir = os.path.join(self.tmp, 'run')

  def train(self, *flags):
    return testing.run_module('r_lstm.train', f'--workdir={self.workdir}',
                              f'--dataset=npz:{self.npz}', *RUN_FLAGS, *flags)

  def test_sigterm_and_sigint_save_at_the_update_and_resume_to_the_same_bits(
      self):
    reference = os.path.join(self.tmp, 'reference')
    result = testing.run_module('r_lstm.train', f'--workdir={reference}',
                                f'--dataset=npz:{self.npz}', *RUN_FLAGS)
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    for number, target in ((signal.SIGTERM, 5), (signal.SIGINT, 13)):
      process = _start(self.workdir, self.npz)
      _wait_for_update(process, self.workdir, target)
      process.send_signal(number)
      _, stderr = process.communicate(timeout=240)
      self.assertEqual(process.returncode,
                       cli.INTERRUPTED_EXIT_BASE + number, msg=stderr)
      line = _one_line(self, stderr, 'r_lstm.train: stopped:')
      self.assertRegex(line, f'stopped by {number.name} at update \\d+; ')
      stopped_at = int(line.split(' at update ')[1].split(';')[0])
      self.assertGreaterEqual(stopped_at, target)
      path, _ = checkpoint_values(self.workdir)
      self.assertEqual(_checkpoint_number(path), stopped_at)
    result = self.train()
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    _, want = checkpoint_values(reference)
    _, got = checkpoint_values(self.workdir)
    for name in want:
      if not name.startswith('save_counter'):  # Two more saves were made.
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    evaluations = lambda w: [r for r in metric_rows(w) if r['split'] == 'test']
    self.assertEqual(evaluations(self.workdir), evaluations(reference))

  def test_a_second_signal_ends_at_once_with_one_line(self):
    # In a process that stays inside StopOnSignals (its loop never
    # stops), so the second signal always finds the first one handled:
    # a tiny run stops and saves faster than a test can send two.
    program = (
        'import os, signal, time\n'
        'from r_lstm import interruption\n'
        'with interruption.StopOnSignals(lambda number: None):\n'
        '  os.kill(os.getpid(), signal.SIGTERM)\n'
        '  time.sleep(1)\n'
        '  os.kill(os.getpid(), signal.SIGTERM)\n'
        '  time.sleep(60)\n'
        'print("not ended")\n')
    result = subprocess.run([sys.executable, '-c', program], cwd=testing.REPO,
                            env=_env(), capture_output=True, text=True,
                            timeout=120)
    self.assertEqual(result.returncode,
                     cli.INTERRUPTED_EXIT_BASE + signal.SIGTERM,
                     msg=result.stderr)
    line = _one_line(self, result.stderr, 'r_lstm.train: stopped:')
    self.assertIn('a second SIGTERM ended training at once', line)
    self.assertEqual(result.stdout, '')

  def test_a_second_trainer_is_refused_and_a_dead_ones_lock_is_taken(self):
    first = _start(self.workdir, self.npz, '--train_steps=100000')
    _wait_for_update(first, self.workdir, 2)
    self.assertEqual(locks.holder(self.workdir), f'PID {first.pid}')
    second = self.train()
    self.assertEqual(second.returncode, cli.USAGE_EXIT_CODE)
    self.assertIn(f'being trained by another process (PID {first.pid})',
                  _one_line(self, second.stderr, 'r_lstm.train: error:'))
    first.kill()  # Its lock dies with it.
    first.communicate()
    self.assertIsNone(locks.holder(self.workdir))
    third = self.train()
    self.assertEqual(third.returncode, 0, msg=third.stderr[-3000:])
    steps = [(r['step'], r['split']) for r in metric_rows(self.workdir)]
    self.assertLen(set(steps), len(steps))  # No row twice.
    self.assertEqual(steps, sorted(steps, key=lambda s: s[0]))

  def test_a_lost_state_file_resumes_from_the_newest_complete_checkpoint(
      self):
    result = self.train('--train_steps=8')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    rows = metric_rows(self.workdir)
    os.remove(os.path.join(self.workdir, 'checkpoints', 'checkpoint'))
    result = self.train('--train_steps=12')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    self.assertIn('ckpt-8 at step 8', result.stdout)
    self.assertEqual(metric_rows(self.workdir)[:len(rows)], rows)
    path, _ = checkpoint_values(self.workdir)
    self.assertEqual(_checkpoint_number(path), 12)

  def test_the_restore_errors_advice_works_when_followed(self):
    result = self.train('--train_steps=8')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    checkpoints = os.path.join(self.workdir, 'checkpoints')
    with open(os.path.join(checkpoints, 'ckpt-8.data-00000-of-00001'),
              'wb') as f:
      f.write(b'\0' * 64)
    result = self.train('--train_steps=12')
    self.assertEqual(result.returncode, cli.USAGE_EXIT_CODE)
    self.assertIn(f'Move ckpt-8.* out of {checkpoints} to resume from ckpt-4',
                  _one_line(self, result.stderr, 'r_lstm.train: error:'))
    moved = os.path.join(self.tmp, 'moved')
    os.makedirs(moved)
    for name in os.listdir(checkpoints):
      if name.startswith('ckpt-8.'):
        os.rename(os.path.join(checkpoints, name), os.path.join(moved, name))
    result = self.train('--train_steps=12')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    self.assertIn('ckpt-4 at step 4', result.stdout)

  def test_leftovers_of_a_kill_mid_save_are_removed(self):
    result = self.train('--train_steps=4')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    checkpoints = os.path.join(self.workdir, 'checkpoints')
    os.makedirs(os.path.join(checkpoints, 'ckpt-6_temp', 'part'))
    with open(os.path.join(checkpoints, 'checkpoint.tmp0a1b'), 'w') as f:
      f.write('torn')
    result = self.train('--train_steps=8')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    self.assertIn('Removed unfinished checkpoint files checkpoint.tmp0a1b, '
                  'ckpt-6_temp', result.stdout)
    self.assertFalse(any(name.endswith('_temp') or '.tmp' in name
                         for name in os.listdir(checkpoints)))

  def test_an_overridden_learning_rate_is_the_one_that_trains(self):
    result = self.train('--train_steps=4', '--learning_rate=0.01')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    result = self.train('--train_steps=8', '--learning_rate=0.5',
                        '--override_config')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    rates = {r['step']: r['learning_rate'] for r in metric_rows(self.workdir)
             if r['split'] == 'train'}
    self.assertAllClose([rates[2], rates[4], rates[6], rates[8]],
                        [0.01, 0.01, 0.5, 0.5])
    self.assertEqual(workdir_lib.read_saved_config(self.workdir).learning_rate,
                     0.5)

  def test_writes_never_follow_a_preplaced_link(self):
    os.makedirs(self.workdir)
    target = os.path.join(self.tmp, 'precious.txt')
    with open(target, 'w') as f:
      f.write('precious')
    for name in ('config.json.tmp', '.lock.tmp', 'metrics.jsonl.tmp'):
      os.symlink(target, os.path.join(self.workdir, name))
    result = self.train('--train_steps=2')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    with open(target) as f:
      self.assertEqual(f.read(), 'precious')
    report = testing.run_module(
        'r_lstm.report', f'--runs={self.workdir}',
        f'--output={self.workdir}/config.json')
    self.assertEqual(report.returncode, cli.USAGE_EXIT_CODE)
    self.assertEqual(workdir_lib.read_saved_config(self.workdir).train_steps,
                     2)

  def test_evaluate_needs_no_write_access(self):
    result = self.train('--train_steps=2')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])

    def refuse(workdir):
      raise errors.UsageError(f'{workdir} is read-only')

    original = workdir_lib.check_writable
    workdir_lib.check_writable = refuse
    try:
      run, results = evaluate.evaluate_workdir(self.workdir)
    finally:
      workdir_lib.check_writable = original
    self.assertEqual(run.step, 2)
    self.assertEqual(results['examples'], 10)


class GuardsTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.data = testing.tiny_data()
    self.workdir = self.create_tempdir().full_path

  def test_resume_may_change_only_length_and_reporting(self):
    saved = testing.TINY_CONFIG
    self.assertEqual(config_rules.differences(saved, saved.replace(
        train_steps=99, eval_every=5, checkpoint_every=7, max_checkpoints=1,
        steps_per_loop=1, eval_batch_size=3, deterministic=True)), ())
    self.assertEqual(
        config_rules.differences(saved, saved.replace(
            auxiliary='reconstruction', seed=4)),
        ("auxiliary: 'none' -> 'reconstruction'", 'seed: 0 -> 4'))

  def test_config_saved_before_a_field_existed_keeps_its_old_meaning(self):
    fields = json.loads(testing.TINY_CONFIG.to_json())
    for field in config_migration.BEFORE_FIELD_EXISTED:
      del fields[field]
    old = configs.Config.from_json(json.dumps(fields))
    self.assertEqual(old.decoder_embedding, 'own')
    self.assertEqual(old.decoder_order, 'forward')
    self.assertEqual(old.decoder_unfed_input, 'none')
    self.assertEqual(old.head_input, 'h')

  def test_non_finite_loss_stops_training_without_saving_it(self):
    run = train_lib.Run.build(testing.TINY_CONFIG, self.workdir, self.data)
    trainer = run.trainer
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
    good = run.checkpoints.save()
    with self.assertRaisesRegex(errors.NonFiniteError,
                                'update 3 has a non-finite loss'):
      trainer.train(iterator, 2)
    self.assertEqual(trainer.step, 3)  # Stopped at the bad update.
    for variable in trainer.model.variables:
      if not np.all(np.isfinite(variable.numpy())):
        break
    else:
      self.fail('the NaN update left every weight finite; the test is void')
    with self.assertRaisesRegex(errors.NonFiniteError,
                                f'not finite at update 3.*{good}'):
      run.checkpoints.save()
    self.assertEqual(run.checkpoints.kept, [good])

  def test_non_finite_stop_names_the_last_good_checkpoint(self):
    npz = os.path.join(self.create_tempdir().full_path, 'tiny.npz')
    testing.write_tiny_npz(npz)
    config = testing.TINY_CONFIG.replace(dataset=f'npz:{npz}')
    train_lib.train_and_evaluate(config, self.workdir)
    good = os.path.join(self.workdir, 'checkpoints', 'ckpt-4')

    def diverge(self, iterator, num_steps):
      raise errors.NonFiniteError(
          f'update {self.step + 1} has a non-finite loss or gradient')

    with mock.patch.object(trainer_lib.Trainer, 'train', diverge):
      with self.assertRaisesRegex(
          errors.NonFiniteError,
          f'update 5 has a non-finite loss .* Last good checkpoint: {good}$'):
        train_lib.train_and_evaluate(config.replace(train_steps=6),
                                     self.workdir)

  def test_loops_keep_their_ends_after_a_resume_between_them(self):
    config = testing.TINY_CONFIG.replace(steps_per_loop=4, pretrain_steps=6,
                                         train_steps=15, eval_every=8,
                                         auxiliary='reconstruction')
    bounds = train_lib._loop_bounds  # pylint: disable=protected-access
    self.assertEqual([bounds(config, p) for p in (0, 3, 4, 5, 6, 9, 13, 14)],
                     [(0, 4), (0, 4), (4, 6), (4, 6), (6, 10), (6, 10),
                      (10, 14), (14, 15)])
    missed = train_lib._evaluation_missed  # pylint: disable=protected-access
    self.assertTrue(missed(config, 10, logged=set()))  # (6, 10] holds 8.
    self.assertFalse(missed(config, 10, logged={10}))
    self.assertFalse(missed(config, 9, logged=set()))  # Not a loop end.
    self.assertFalse(missed(config, 6, logged=set()))  # Nothing crossed.
    self.assertTrue(missed(config, 15, logged=set()))  # The final one.

  def test_resume_discards_rows_logged_after_the_last_checkpoint(self):
    path = os.path.join(self.workdir, summaries.METRICS_FILE)
    rows = [{'step': s, 'split': 'train', 'loss': 1.0} for s in (2, 4, 6)]
    with open(path, 'w') as f:
      f.writelines(json.dumps(r) + '\n' for r in rows)
      f.write('{"step": 8, "spl')  # Torn by a kill mid-write.
    summaries.Reporter(self.workdir, 10).discard_after(4)
    with open(path) as f:
      self.assertEqual([json.loads(line) for line in f], rows[:2])


if __name__ == '__main__':
  tf.test.main()
