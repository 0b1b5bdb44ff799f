"""The outer loop: a run in a workdir, from its checks to its last report.

`load_run` checks everything and assembles a `Run`: the `Trainer` (the
updates), the `Evaluator` and the `RunCheckpoints`. `train_and_evaluate`
drives them as Orbit's controller drives its trainer and evaluator: it
decides when to evaluate, checkpoint and report, holds the workdir's lock
and turns a stop signal into a saved checkpoint.
"""

import dataclasses
import os
import shutil
import signal
import tempfile
from typing import Dict, Optional, Tuple

import tensorflow as tf

from r_lstm import config_rules, disk_space, distribute
from r_lstm import early_stopping, errors, files, input_pipeline, interruption
from r_lstm import learning_rates, locks, memory, run_faults, summaries
from r_lstm import workdir as workdir_lib
from r_lstm.checkpoints import RunCheckpoints
from r_lstm.configs import Config
from r_lstm.errors import NonFiniteError, UsageError
from r_lstm.evaluator import Evaluator
from r_lstm.trainer import Trainer

CONFIG_FILE = workdir_lib.CONFIG_FILE
CHECKPOINT_DIR = workdir_lib.CHECKPOINT_DIR


@dataclasses.dataclass
class Run:
  """One run: its config, data, trainer, evaluator and checkpoints.

  `output_dir` is where this process writes: the workdir, except on the
  workers of a cluster other than the chief (`distribute.is_chief`), which
  write their checkpoints and summaries to a scratch directory of their
  own and read the chief's checkpoints to resume. `saved_config` is the
  config the workdir held when the run was loaded (None: a new run).
  """
  config: Config
  workdir: str
  trainer: Trainer
  evaluator: Evaluator
  checkpoints: RunCheckpoints
  output_dir: str
  saved_config: Optional[Config] = None

  @classmethod
  def build(cls, config: Config, workdir: str,
            data: input_pipeline.SequenceData,
            strategy: Optional[tf.distribute.Strategy] = None,
            saved_config: Optional[Config] = None) -> 'Run':
    trainer = Trainer(config, data, strategy)
    output_dir = workdir
    if not distribute.is_chief(trainer.strategy):
      output_dir = tempfile.mkdtemp(prefix='r_lstm_worker_')
    return cls(config, workdir, trainer,
               Evaluator(trainer.model, data, config.eval_batch_size,
                         config.seed, trainer.strategy),
               RunCheckpoints(trainer.model, trainer.optimizer,
                              os.path.join(output_dir, CHECKPOINT_DIR),
                              config.max_checkpoints,
                              restore_from=os.path.join(workdir,
                                                        CHECKPOINT_DIR)),
               output_dir, saved_config)

  @property
  def is_chief(self) -> bool:
    return self.output_dir == self.workdir

  @property
  def model(self):
    return self.trainer.model

  @property
  def data(self) -> input_pipeline.SequenceData:
    return self.trainer.data

  @property
  def step(self) -> int:
    return self.trainer.step

  def restore(self) -> bool:
    """Restores the newest complete checkpoint, if any (True when one was
    found). The learning rate is the config's, not the checkpoint's (it may
    have been changed with override_config); a schedule is the config's
    already, a function of the restored update count."""
    if not self.checkpoints.restore():
      return False
    rate = learning_rates.learning_rate(self.config)
    if not isinstance(rate, learning_rates.WarmupThenDecay):
      self.trainer.optimizer.learning_rate = rate
    return True

  def evaluate(self) -> Dict[str, float]:
    return self.evaluator.evaluate()


def load_run(config: Config, workdir: str,
             strategy: Optional[tf.distribute.Strategy] = None,
             override_config: bool = False,
             writable: bool = True) -> Run:
  """Checks config, workdir and data, then builds the `Run`.

  Everything that can be wrong with the inputs is checked here, before
  anything is written to the workdir: the config's fields, every path the
  run writes (`writable`) or reads, the data arrays, and the memory one
  update needs. A workdir that already holds a run must be resumed with the
  same config, up to `config_rules.RESUMABLE_FIELDS`, unless `override_config`.
  """
  config_rules.validate(config)
  # Before any op: a multi-worker strategy configures the runtime.
  strategy = strategy or distribute.make_strategy(config.strategy)
  # Resolved once and recorded: the saved config builds the same graph.
  config = distribute.resolve_decoder_rnn(config)
  if writable:
    workdir_lib.check_writable(workdir)
  else:
    workdir_lib.check_readable(workdir)
  saved = workdir_lib.read_saved_config(workdir)
  if saved is not None and not override_config:
    changed = config_rules.differences(saved, config)
    if changed:
      raise UsageError(
          f'{workdir} holds a run with another config ({"; ".join(changed)}); '
          'rerun with its flags, use a new workdir, or pass '
          'override_config to continue it with the new one',
          fields=('workdir', 'override_config'))
  if config.deterministic:
    tf.config.experimental.enable_op_determinism()
  data = input_pipeline.load(config, workdir)
  memory.check(config, memory.Shape.of(data))
  run = Run.build(config, workdir, data, strategy, saved)
  if writable:
    disk_space.check_checkpoint_room(
        config, run.model.count_params(), workdir,
        len(workdir_lib.complete_checkpoints(
            os.path.join(workdir, CHECKPOINT_DIR))))
  return run


def load_trained(workdir: str) -> Run:
  """The run in `workdir` at its latest checkpoint, built from the config
  it saved. Reads only: a run in progress or a read-only directory can be
  loaded."""
  workdir_lib.check_readable(workdir)
  # On this machine's own devices, wherever the run trained.
  config = workdir_lib.read_saved_config(workdir).replace(strategy='auto')
  run = load_run(config, workdir, writable=False)
  if not run.restore():
    raise UsageError(f'{workdir} holds no checkpoint yet')
  return run


def train_and_evaluate(
    config: Config, workdir: str,
    strategy: Optional[tf.distribute.Strategy] = None,
    override_config: bool = False,
    stop_signals=interruption.STOP_SIGNALS) -> Dict[str, float]:
  """Trains to `config.train_steps`, resuming from the workdir's newest
  complete checkpoint, and returns the final evaluation.

  Holds the workdir's lock (`workdir.Lock`) from before it reads a
  checkpoint to the end. Any of `stop_signals` (when called from the main
  thread) ends training after the update in progress, saves a checkpoint
  there and raises `errors.Interrupted`; rerunning resumes from it.
  """
  run = load_run(config, workdir, strategy, override_config)
  if not run.is_chief:
    try:
      resumed = run.restore()
      stops = interruption.StopOnSignals(run.trainer.request_stop,
                                         stop_signals)
      with stops, run_faults.peers_answer(run):
        return _train(run, resumed)
    finally:
      shutil.rmtree(run.output_dir, ignore_errors=True)
  lock = locks.Lock(workdir)
  with run_faults.environment_faults(run):
    if files.isdir(workdir):
      lock.acquire()  # Before reading what another trainer may be writing.
    try:
      resumed = run.restore()  # Reads only: a bad checkpoint stops here.
      files.makedirs(workdir)
      lock.acquire()
      lock.record_holder()
      run.checkpoints.tidy()
      stops = interruption.StopOnSignals(run.trainer.request_stop,
                                         stop_signals)
      with stops, run_faults.peers_answer(run):
        return _train(run, resumed)
    finally:
      lock.release()


def _train(run: Run, resumed: bool) -> Dict[str, float]:
  """The outer loop: phases, evaluation, checkpoints and reports."""
  config, output_dir, trainer = run.config, run.output_dir, run.trainer
  # What the workdir logged, read by every worker of a cluster alike before
  # the chief writes: their loops must decide the same.
  evaluated = summaries.logged_steps(run.workdir, run.data.test_split_name)
  saved = run.saved_config if run.is_chief else None
  if saved != config:  # A new run, or continued with changed fields.
    files.write_atomically(os.path.join(output_dir, CONFIG_FILE),
                           config.to_json())
  input_pipeline.record_permutation(run.data, output_dir)
  if resumed:
    print(f'Resumed from {run.checkpoints.restored} at step {run.step}.',
          flush=True)
  reporter = summaries.Reporter(output_dir, config.train_steps)
  # Rows a killed run logged after its last checkpoint are redone now.
  reporter.discard_after(run.step)
  reporter.write_host(run.step)
  reporter.write_config(dataclasses.asdict(config), config.to_json())

  stopping = early_stopping.EarlyStopping.from_workdir(
      config, run.workdir, run.data.test_split_name, run.step)

  def evaluate():
    results = run.evaluator.evaluate()
    reporter.write(run.step, run.data.test_split_name, results)
    reporter.write_images(run.step, run.evaluator.segment_images())
    stopping.record(run.step, results)
    return results

  results = None
  if _evaluation_missed(config, run.step, evaluated):
    # A stop after the loop that reached this evaluation skipped it.
    results = evaluate()
  iterator = trainer.train_iterator()
  reporter.start(run.step)
  while (run.step < config.train_steps and not trainer.stop_signal
         and not stopping.stopped):
    previous = run.step
    _, end = _loop_bounds(config, previous)
    pretraining = trainer.pretraining
    try:
      scalars = trainer.train(iterator, end - previous)
    except NonFiniteError as error:
      raise NonFiniteError(f'{error}. Last good checkpoint: '
                           f'{run.checkpoints.latest or "none"}') from None
    step = run.step
    if step > previous:
      reporter.write(step, 'train', scalars,
                     phase='auxiliary-only' if pretraining else '')
    if trainer.stop_signal:
      break
    done = step >= config.train_steps
    if done or _crossed(previous, step, config.eval_every):
      results = evaluate()
      reporter.start(step)  # Evaluation time is not training speed.
    if (done or stopping.stopped
        or _crossed(previous, step, config.checkpoint_every)):
      run.checkpoints.save()
  if trainer.stop_signal:
    raise _interrupted(run)
  if results is None:  # Resumed a finished run: evaluate what it left.
    results = run.evaluator.evaluate()
  stopped = f'; {stopping.reason()}' if stopping.stopped else ''
  print(f'Final {run.data.test_split_name} accuracy of {config.dataset} '
        f'after {run.step} updates: {results["accuracy"]:.4f} '
        f'({int(results["examples"])} examples){stopped}', flush=True)
  return results


def _interrupted(run: Run) -> errors.Interrupted:
  """Saves the updates since the last checkpoint and says where to go on."""
  number = run.trainer.stop_signal
  if run.step and run.checkpoints.saved_step != run.step:
    where = f'saved {run.checkpoints.save()}'
  elif run.step:
    where = f'its checkpoint is {run.checkpoints.latest}'
  else:
    where = 'no update had run, nothing to save'
  if not run.is_chief:
    where = (f'the run\'s checkpoints are the chief\'s, in '
             f'{run.checkpoints.restore_from}')
  return errors.Interrupted(
      f'stopped by {signal.Signals(number).name} at update {run.step}; '
      f'{where}. Run the same command again to resume', number)


def _loop_bounds(config: Config, previous: int) -> Tuple[int, int]:
  """(start, end) of the `tf.function` loop that runs update `previous` +
  1: loops of `steps_per_loop` updates counted from the start of each
  phase, the last cut at the phase's end. A run resumed between two loop
  ends (after a stop by a signal) rejoins the uninterrupted run's loops,
  so it evaluates and checkpoints at the same updates."""
  pretrain = config.pretrain_steps
  first, last = ((0, min(pretrain, config.train_steps)) if previous < pretrain
                 else (pretrain, config.train_steps))
  start = first + (previous - first) // config.steps_per_loop * (
      config.steps_per_loop)
  return start, min(start + config.steps_per_loop, last)


def _evaluation_missed(config: Config, step: int, logged) -> bool:
  """Whether update `step` ends a loop that an uninterrupted run evaluates
  after, and no evaluation is logged there (a stop skips it)."""
  if step == 0 or step in logged:
    return False
  start, end = _loop_bounds(config, step - 1)
  return end == step and (step >= config.train_steps
                          or _crossed(start, step, config.eval_every))


def _crossed(previous: int, step: int, every: int) -> bool:
  """Whether a multiple of `every` lies in (previous, step]."""
  return every > 0 and step // every > previous // every
