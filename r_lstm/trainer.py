"""The trainer: the model's updates, in the Orbit style.

A per-replica `steps.update` runs through `strategy.run`; up to
`steps_per_loop` of them run inside one `tf.function` call; per-replica
sums are reduced in cross-replica context and fed to one named Keras metric
per term. The trainer owns no files: checkpoints, evaluation and summaries
belong to the outer loop (`train_lib`).
"""

import functools
from typing import Dict, Optional, Tuple

import keras
import tensorflow as tf

from r_lstm import config_rules, distribute, input_pipeline, learning_rates
from r_lstm import steps
from r_lstm.configs import Config
from r_lstm.errors import NonFiniteError, UsageError


def make_optimizer(config: Config) -> keras.optimizers.Optimizer:
  """The config's optimizer with its learning rate schedule
  (`learning_rates`); under mixed_float16 inside Keras'
  `LossScaleOptimizer` (float16 gradients underflow unscaled)."""
  rate = learning_rates.learning_rate(config)
  if config.optimizer == 'adam':
    optimizer = keras.optimizers.Adam(rate, epsilon=config.adam_epsilon)
  else:
    optimizer = keras.optimizers.RMSprop(rate)
  if config.precision == 'mixed_float16':
    return keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer


def build_model(config: Config, data: input_pipeline.SequenceData):
  """The run's model, built by its backbone's module
  (`registry.BACKBONES`), under the config's dtype policy (`precision`)."""
  return config.backbone_entry.load().build(config, data)


class Trainer:
  """Owns the model, the optimizer and the training metrics of one run."""

  def __init__(self, config: Config, data: input_pipeline.SequenceData,
               strategy: Optional[tf.distribute.Strategy] = None):
    self.config = config
    self.data = data
    self.strategy = strategy or distribute.make_strategy(config.strategy)
    config_rules.check_sequence_length(config, data.max_length)
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

  @property
  def step(self) -> int:
    return int(self.optimizer.iterations.numpy())

  def request_stop(self, signal_number: int) -> None:
    """Ends training after the update in progress (safe from any thread)."""
    self._stop_signal.assign(signal_number)

  @property
  def stop_signal(self) -> int:
    """The signal that asked training to stop, or 0."""
    return int(self._stop_signal.numpy())

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
          'stopped')
    results = {name: float(m.result()) for name, m in self.metrics.items()
               if float(m.count) > 0}
    for metric in self.metrics.values():
      metric.reset_state()
    results['learning_rate'] = float(self.optimizer.learning_rate.numpy())
    return results

  def train_iterator(self):
    """Training batches from the current step on, split across replicas."""
    dataset = input_pipeline.train_dataset(
        self.data.train, self.config.batch_size, self.config.seed,
        skip_batches=self.step)
    return iter(self.strategy.experimental_distribute_dataset(dataset))
