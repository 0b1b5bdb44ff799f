"""Training and evaluation loop (custom Keras loop in the Orbit style).

A per-replica `_train_step` runs through `strategy.run`; `steps_per_loop`
of them run inside one `tf.function` call; per-replica sums are reduced in
cross-replica context and fed to one named Keras metric per term; the
`Reporter` is the only writer of summaries.
"""

import dataclasses
import functools
import os
import signal
from typing import Dict, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from r_lstm import configs, errors, input_pipeline, interruption, memory
from r_lstm import models, reporting, steps, transformer
from r_lstm import losses as losses_lib
from r_lstm import workdir as workdir_lib
from r_lstm.configs import Config
from r_lstm.objectives import base
from r_lstm.errors import NonFiniteError, UsageError

CONFIG_FILE = workdir_lib.CONFIG_FILE
CHECKPOINT_DIR = workdir_lib.CHECKPOINT_DIR


def make_strategy() -> tf.distribute.Strategy:
  """MirroredStrategy over several GPUs when present, else the default."""
  gpus = tf.config.list_logical_devices('GPU')
  if len(gpus) > 1:
    return tf.distribute.MirroredStrategy([d.name for d in gpus])
  return tf.distribute.get_strategy()


def make_optimizer(config: Config) -> keras.optimizers.Optimizer:
  if config.optimizer == 'adam':
    return keras.optimizers.Adam(config.learning_rate,
                                 epsilon=config.adam_epsilon)
  return keras.optimizers.RMSprop(config.learning_rate)


def build_model(config: Config, data: input_pipeline.SequenceData):
  """The run's model: a `SequenceClassifier` or the Transformer baseline."""
  if config.model == 'transformer':
    return transformer.TransformerClassifier(
        num_classes=data.num_classes, max_length=data.max_length,
        vocab_size=data.vocab_size, channels=data.channels,
        embed_dim=config.embed_dim, units=config.transformer_units,
        layers=config.transformer_layers,
        num_heads=config.transformer_heads,
        ffn_units=config.transformer_ffn_units, head_units=config.head_units)
  return models.SequenceClassifier(
      num_classes=data.num_classes, vocab_size=data.vocab_size,
      channels=data.channels, embed_dim=config.embed_dim,
      lstm_units=config.lstm_units, head_units=config.head_units,
      bptt=config.bptt, head_input=config.head_input,
      auxiliary=configs.MODELS[config.model],
      decoder=base.DecoderOptions.of(config), cell=config.cell,
      initialization=config.initialization)


class Trainer:
  """Owns the model, optimizer, metrics and checkpoints of one run."""

  def __init__(self, config: Config, workdir: str,
               data: input_pipeline.SequenceData,
               strategy: Optional[tf.distribute.Strategy] = None):
    self.config = config
    self.data = data
    self.strategy = strategy or make_strategy()
    configs.check_sequence_length(config, data.max_length)
    replicas = self.strategy.num_replicas_in_sync
    if config.batch_size % replicas:
      raise UsageError(f'batch_size={config.batch_size} is not divisible by '
                       f'the {replicas} replicas; use a multiple of '
                       f'{replicas}', fields=('batch_size',))
    keras.utils.set_random_seed(config.seed)
    with self.strategy.scope():
      self.model = build_model(config, data)
      self.optimizer = make_optimizer(config)
      self.optimizer.build(self.model.trainable_variables)
    self.recipe = steps.Recipe.from_config(config)
    self.objective_names = ((steps.SUPERVISED,)
                            + self.model.auxiliary_objectives)
    self.metrics = {name: keras.metrics.Mean(name=name)
                    for name in steps.objective_metric_names(self.model)
                    + ['loss/total', 'grad_norm']}
    # The update (1-based) whose loss or gradient was not finite; 0: none.
    self._nonfinite_update = tf.Variable(0, dtype=tf.int64, trainable=False)
    # A signal number once a stop is requested (`request_stop`); 0: none.
    # The training loop reads it before every update.
    self._stop_signal = tf.Variable(0, dtype=tf.int32, trainable=False)
    self.checkpoint = tf.train.Checkpoint(model=self.model,
                                          optimizer=self.optimizer)
    self.checkpoint_dir = os.path.join(workdir, CHECKPOINT_DIR)
    self.checkpoints = self._manager()
    self.saved_step = None  # The update of the newest checkpoint on disk.

  def _manager(self) -> tf.train.CheckpointManager:
    return tf.train.CheckpointManager(
        self.checkpoint, self.checkpoint_dir,
        max_to_keep=self.config.max_checkpoints)

  @property
  def step(self) -> int:
    return int(self.optimizer.iterations.numpy())

  def restore(self) -> bool:
    """Restores the newest complete checkpoint on disk, if any; True when
    one was found. Reads only.

    The newest complete checkpoint is found by listing the directory, not
    by trusting TensorFlow's `checkpoint` state file, which a kill or a
    user can leave missing or naming files that were moved away. Files of
    checkpoints that are never complete stop the run rather than let it
    start from scratch over them. The learning rate is the config's, not
    the checkpoint's (it may have been changed with --override_config).
    """
    complete = workdir_lib.complete_checkpoints(self.checkpoint_dir)
    if not complete:
      strays = self._stray_checkpoint_files()
      if strays:
        raise UsageError(
            f'{self.checkpoint_dir} holds checkpoint files ({strays}) but no '
            'complete checkpoint; not starting from scratch over them: move '
            'them away to start anew, or use a new workdir',
            fields=('workdir',))
      return False
    latest = complete[-1]
    try:
      self.checkpoint.restore(latest).assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, IndexError, KeyError,
            TypeError, ValueError) as error:
      reason = errors.first_line(error)[:300]
      fallback = (f'resume from {os.path.basename(complete[-2])}'
                  if len(complete) > 1 else 'start from scratch')
      raise UsageError(
          f'checkpoint {latest} cannot be restored into this model '
          f'({reason}); it is damaged or from another architecture. Move '
          f'{os.path.basename(latest)}.* out of {self.checkpoint_dir} to '
          f'{fallback}, or use a new workdir',
          fields=('workdir',)) from None
    self.optimizer.learning_rate = self.config.learning_rate
    self.saved_step = self.step
    return True

  def _stray_checkpoint_files(self) -> str:
    if not os.path.isdir(self.checkpoint_dir):
      return ''
    names = sorted(name for name in os.listdir(self.checkpoint_dir)
                   if name.startswith('ckpt-') and not name.endswith('_temp'))
    return ', '.join(names[:3]) + (', ...' if len(names) > 3 else '')

  def tidy_checkpoints(self) -> None:
    """Deletes what a kill mid-save leaves behind and makes the `checkpoint`
    state file list the complete checkpoints on disk (needs the workdir's
    lock)."""
    removed = workdir_lib.remove_leftovers(self.checkpoint_dir)
    if removed:
      print(f'Removed unfinished checkpoint files {", ".join(removed)}.',
            flush=True)
    complete = workdir_lib.complete_checkpoints(self.checkpoint_dir)
    state = tf.train.get_checkpoint_state(self.checkpoint_dir)
    listed = [] if state is None else [
        os.path.basename(p) for p in state.all_model_checkpoint_paths]
    if complete and listed != [os.path.basename(c) for c in complete]:
      workdir_lib.write_checkpoint_state(self.checkpoint_dir, complete)
      self.checkpoints = self._manager()

  def request_stop(self, signal_number: int) -> None:
    """Ends training after the update in progress (safe from any thread)."""
    self._stop_signal.assign(signal_number)

  @property
  def stop_signal(self) -> int:
    """The signal that asked training to stop, or 0."""
    return int(self._stop_signal.numpy())

  def save_checkpoint(self) -> str:
    """Saves a checkpoint of the current step; refuses non-finite weights.

    TensorFlow writes the checkpoint's files first and then replaces the
    `checkpoint` index file atomically, so a run killed mid-save resumes
    from the previous checkpoint.
    """
    for variable in self.model.variables + self.optimizer.variables:
      if not np.all(np.isfinite(variable.numpy())):
        raise NonFiniteError(
            f'{variable.path} is not finite at update {self.step}; not '
            f'saving it. Last good checkpoint: '
            f'{self.checkpoints.latest_checkpoint}')
    path = self.checkpoints.save(checkpoint_number=self.step)
    self.saved_step = self.step
    return path

  @property
  def pretraining(self) -> bool:
    """Whether the next update is in the auxiliary-only phase.

    The phase is a function of the update count, which the checkpoint holds
    (the optimizer's `iterations`), so a resumed run continues the right
    phase.
    """
    return self.step < self.config.pretrain_steps

  def sample_anchors(self, lengths) -> Dict[str, Tuple[tf.Tensor, tf.Tensor]]:
    """The anchors of the next update: objective -> `anchors.sample`."""
    return steps.sample_anchors(self.model, lengths, self.recipe,
                                self.optimizer.iterations)

  def _train_step(self, batch, supervised: bool) -> Dict[str, tf.Tensor]:
    """One update on this replica's share of the global batch."""
    return steps.update(self.model, self.optimizer, batch, self.recipe,
                        supervised)

  @tf.function
  def _train_loop(self, iterator, num_steps, supervised):
    for _ in tf.range(num_steps):
      if self._stop_signal > 0:
        break
      logs = self.strategy.run(
          functools.partial(self._train_step, supervised=supervised),
          args=(next(iterator),))
      logs = {k: self.strategy.reduce(steps.SUM, v, axis=None)
              for k, v in logs.items()}
      if logs.pop('nonfinite') > 0:
        # This update's loss or gradient is not finite: stop here.
        self._nonfinite_update.assign(self.optimizer.iterations)
        break
      count = logs.pop('count')
      for name, value in logs.items():
        self.metrics[name].update_state(
            value if name == 'grad_norm' else value / count)

  @property
  def tracing_count(self) -> int:
    """How many times the training loop was traced (benchmarks: one per
    phase and shape)."""
    return self._train_loop.experimental_get_tracing_count()

  def train(self, iterator, num_steps: int) -> Dict[str, float]:
    """Runs `num_steps` updates within one phase (fewer when a stop is
    requested); returns the metrics averaged over the updates run.

    Raises:
      NonFiniteError: an update had a non-finite loss or gradient (the
        in-memory weights are then suspect and must not be saved).
    """
    self._train_loop(iterator, tf.constant(num_steps), not self.pretraining)
    bad = int(self._nonfinite_update.numpy())
    if bad:
      raise NonFiniteError(
          f'update {bad} has a non-finite loss or gradient; training '
          f'stopped. Last good checkpoint: '
          f'{self.checkpoints.latest_checkpoint or "none"}')
    results = {name: float(m.result()) for name, m in self.metrics.items()
               if float(m.count) > 0}
    for metric in self.metrics.values():
      metric.reset_state()
    results['learning_rate'] = float(self.optimizer.learning_rate.numpy())
    return results

  def segment_images(self, num_examples: int = 4) -> Dict[str, np.ndarray]:
    """Original vs teacher-forced decoder output on the first evaluation
    images, one anchor each, placed so that the segment is centred."""
    if self.data.image_shape is None or not self.model.auxiliary_objectives:
      return {}
    split = self.data.test
    tokens = split.tokens[:num_examples]
    valid = tf.ones([len(tokens)], tf.bool)
    anchors = {decoder.objective: (
        tf.fill([len(tokens), 1],
                decoder.centred_anchor(self.data.max_length)), valid)
               for decoder in self.model.auxiliary_decoders}
    predictions = self.model.predict_segments(
        tokens, split.lengths[:num_examples], anchors,
        feed_seed=tf.constant([self.config.seed, steps.FEED_STREAM],
                              tf.int64))
    return {f'segments/{name}': reporting.segment_images(
        tokens, steps.numpy(), predicted.numpy(), self.data.image_shape)
            for name, (steps, predicted) in predictions.items()}

  def train_iterator(self):
    """Training batches from the current step on, split across replicas."""
    dataset = input_pipeline.train_dataset(
        self.data.train, self.config.batch_size, self.config.seed,
        skip_batches=self.step)
    return iter(self.strategy.experimental_distribute_dataset(dataset))

  def _eval_step(self, batch) -> Dict[str, tf.Tensor]:
    tokens, lengths, labels = batch
    logits = self.model(tokens, lengths, training=False)
    losses, correct = losses_lib.cross_entropy_and_correct(labels, logits)
    return {'loss_sum': tf.reduce_sum(losses),
            'correct': tf.reduce_sum(correct),
            'count': tf.cast(tf.size(labels), tf.float32)}

  @tf.function(reduce_retracing=True)
  def _distributed_eval_step(self, batch):
    logs = self.strategy.run(self._eval_step, args=(batch,))
    return {k: self.strategy.reduce(steps.SUM, v, axis=None)
            for k, v in logs.items()}

  def evaluate(self) -> Dict[str, float]:
    """Loss and accuracy over every example of the evaluation split."""
    dataset = self.strategy.experimental_distribute_dataset(
        input_pipeline.eval_dataset(self.data.test,
                                    self.config.eval_batch_size))
    totals = {'loss_sum': 0.0, 'correct': 0.0, 'count': 0.0}
    for batch in dataset:
      for name, value in self._distributed_eval_step(batch).items():
        totals[name] += float(value)
    return {'loss': totals['loss_sum'] / totals['count'],
            'accuracy': totals['correct'] / totals['count'],
            'examples': totals['count']}


def load_run(config: Config, workdir: str,
             strategy: Optional[tf.distribute.Strategy] = None,
             override_config: bool = False,
             writable: bool = True) -> Trainer:
  """Checks config, workdir and data, then builds the run's Trainer.

  Everything that can be wrong with the inputs is checked here, before
  anything is written to the workdir: the config's fields, every path the
  run writes (`writable`) or reads, the data arrays, and the memory one
  update needs. A workdir that already holds a run must be resumed with the
  same config, up to `configs.RESUMABLE_FIELDS`, unless `override_config`.
  """
  configs.validate(config)
  if writable:
    workdir_lib.check_writable(workdir)
  else:
    workdir_lib.check_readable(workdir)
  saved = read_saved_config(workdir)
  if saved is not None and not override_config:
    changed = configs.differences(saved, config)
    if changed:
      raise UsageError(
          f'{workdir} holds a run with another config ({"; ".join(changed)}); '
          'rerun with its flags, use a new workdir, or pass '
          'override_config to continue it with the new one',
          fields=('workdir', 'override_config'))
  if config.deterministic:
    tf.config.experimental.enable_op_determinism()
  data = input_pipeline.load(config, workdir)
  memory.check(config, data.max_length, data.channels, data.vocab_size,
               data.num_classes)
  return Trainer(config, workdir, data, strategy)


def load_trained(workdir: str) -> Trainer:
  """The run in `workdir` at its latest checkpoint, built from the config
  it saved. Reads only: a run in progress or a read-only directory can be
  loaded."""
  workdir_lib.check_readable(workdir)
  trainer = load_run(read_saved_config(workdir), workdir, writable=False)
  if not trainer.restore():
    raise UsageError(f'{workdir} holds no checkpoint yet')
  return trainer


def read_saved_config(workdir: str) -> Optional[Config]:
  """The config a run saved in `workdir`, or None when there is none."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.lexists(path):
    return None
  try:
    with open(path, encoding='utf-8') as f:
      text = f.read()
  except (OSError, UnicodeDecodeError) as error:
    reason = getattr(error, 'strerror', None) or errors.first_line(error)
    raise UsageError(f'cannot read {path}: {reason}') from None
  return configs.Config.from_json(text, source=path)


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
  trainer = load_run(config, workdir, strategy, override_config)
  lock = workdir_lib.Lock(workdir)
  if os.path.isdir(workdir):
    lock.acquire()  # Before reading what another trainer may be writing.
  try:
    resumed = trainer.restore()  # Reads only: a bad checkpoint stops here.
    os.makedirs(workdir, exist_ok=True)
    lock.acquire()
    lock.record_holder()
    trainer.tidy_checkpoints()
    with interruption.StopOnSignals(trainer.request_stop, stop_signals):
      return _train(trainer, config, workdir, resumed)
  finally:
    lock.release()


def _train(trainer: Trainer, config: Config, workdir: str,
           resumed: bool) -> Dict[str, float]:
  """The outer loop: phases, evaluation, checkpoints and reports."""
  saved = read_saved_config(workdir)
  if saved != config:  # A new run, or continued with changed fields.
    workdir_lib.write_atomically(os.path.join(workdir, CONFIG_FILE),
                                 config.to_json())
  input_pipeline.record_permutation(trainer.data, workdir)
  if resumed:
    print(f'Resumed from {trainer.checkpoints.latest_checkpoint} '
          f'at step {trainer.step}.', flush=True)
  reporter = reporting.Reporter(workdir, config.train_steps)
  # Rows a killed run logged after its last checkpoint are redone now.
  reporter.discard_after(trainer.step)
  reporter.write_host(trainer.step)
  reporter.write_config(dataclasses.asdict(config), config.to_json())
  results = None
  split = trainer.data.test_split_name
  if _evaluation_missed(config, trainer.step,
                        reporter.logged_steps(split)):
    # A stop after the loop that reached this evaluation skipped it.
    results = trainer.evaluate()
    reporter.write(trainer.step, split, results)
    reporter.write_images(trainer.step, trainer.segment_images())
  iterator = trainer.train_iterator()
  reporter.start(trainer.step)
  while trainer.step < config.train_steps and not trainer.stop_signal:
    previous = trainer.step
    _, end = _loop_bounds(config, previous)
    pretraining = trainer.pretraining
    scalars = trainer.train(iterator, end - previous)
    step = trainer.step
    if step > previous:
      reporter.write(step, 'train', scalars,
                     phase='auxiliary-only' if pretraining else '')
    if trainer.stop_signal:
      break
    done = step >= config.train_steps
    if done or _crossed(previous, step, config.eval_every):
      results = trainer.evaluate()
      reporter.write(step, split, results)
      reporter.write_images(step, trainer.segment_images())
      reporter.start(step)  # Evaluation time is not training speed.
    if done or _crossed(previous, step, config.checkpoint_every):
      trainer.save_checkpoint()
  if trainer.stop_signal:
    raise _interrupted(trainer)
  if results is None:  # Resumed a finished run: evaluate what it left.
    results = trainer.evaluate()
  print(f'Final {trainer.data.test_split_name} accuracy of {config.dataset} '
        f'after {trainer.step} updates: {results["accuracy"]:.4f} '
        f'({int(results["examples"])} examples)', flush=True)
  return results


def _interrupted(trainer: Trainer) -> errors.Interrupted:
  """Saves the updates since the last checkpoint and says where to go on."""
  number = trainer.stop_signal
  if trainer.step and trainer.saved_step != trainer.step:
    where = f'saved {trainer.save_checkpoint()}'
  elif trainer.step:
    where = f'its checkpoint is {trainer.checkpoints.latest_checkpoint}'
  else:
    where = 'no update had run, nothing to save'
  return errors.Interrupted(
      f'stopped by {signal.Signals(number).name} at update {trainer.step}; '
      f'{where}. Run the same '
      'command again to resume', number)


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
