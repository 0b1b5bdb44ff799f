"""One update, shared by the command line's loop and Keras `fit`.

`update` is the whole per-replica step: anchors drawn for this update, every
objective's loss through its exact gradient window, the global gradient
clipped after summing replicas, the optimizer applied. `trainer.Trainer`
runs it through `strategy.run` in its own loop; `KerasFit` makes it the
`train_step` of the classifiers, so `model.compile(optimizer, recipe=...)`
and `model.fit(dataset)` train them with the same update, callbacks
included.
"""

import dataclasses
from typing import Dict, List, Optional, Tuple

import keras
import tensorflow as tf

from r_lstm import anchors
from r_lstm import losses as losses_lib

SUM = tf.distribute.ReduceOp.SUM
# The classifier's own objective; auxiliary ones are named by their decoder.
SUPERVISED = 'supervised'
# Random stream of how decoders read their segments (`objectives.base.
# Context.feed_seed`); the anchor streams are 0, 1, ... (one per auxiliary
# objective), well below it.
FEED_STREAM = 100


@dataclasses.dataclass(frozen=True)
class Recipe:
  """What an update needs beyond the model and the optimizer; the fields
  are the `Config` fields of the same names.

  batch_size: the global batch the losses are averaged over; None: the
    batch each replica gets times the replicas.
  """
  seed: int = 0
  num_anchors: int = 1
  anchor_sharing: str = 'example'
  aux_weight: float = 1.0
  pretrain_steps: int = 0
  clip_norm: float = 1.0
  batch_size: Optional[int] = None

  @classmethod
  def from_config(cls, config) -> 'Recipe':
    return cls(**{field.name: getattr(config, field.name)
                  for field in dataclasses.fields(cls)})


def metric_names(objective: str) -> Tuple[str, str]:
  """(loss metric, accuracy metric) of an objective; the classifier's
  accuracy is plain 'accuracy', as in Keras."""
  if objective == SUPERVISED:
    return 'loss/supervised', 'accuracy'
  return f'loss/{objective}', f'accuracy/{objective}'


def objective_metric_names(model) -> List[str]:
  """The loss and accuracy metric names of every objective of `model`."""
  return [name for objective in (SUPERVISED,) + model.auxiliary_objectives
          for name in metric_names(objective)]


def sample_anchors(model, lengths, recipe: Recipe, step
                   ) -> Dict[str, Tuple[tf.Tensor, tf.Tensor]]:
  """The anchors of update `step`: objective -> `anchors.sample`."""
  return {decoder.objective: anchors.sample(
      lengths, recipe.num_anchors, *decoder.anchor_range(),
      anchors.step_seed(recipe.seed, step, stream), recipe.anchor_sharing)
          for stream, decoder in enumerate(model.auxiliary_decoders)}


def update(model, optimizer: keras.optimizers.Optimizer, batch,
           recipe: Recipe, supervised: bool) -> Dict[str, tf.Tensor]:
  """One update on this replica's share of the global batch.

  Returns sums over this replica's examples ('count' of them), the global
  gradient norm divided by the replicas, and 'nonfinite' (1.0 when the
  loss or the gradient is not finite; the update is applied all the same,
  the caller decides what to do with it).

  With a `keras.optimizers.LossScaleOptimizer` (mixed_float16) the
  gradient is of the scaled loss: clipping bounds the unscaled norm, and a
  non-finite gradient is the loss scale's business (the optimizer skips the
  update and halves the scale), not a failure; only a non-finite loss is.
  """
  tokens, lengths, labels = batch
  replicas = tf.distribute.get_strategy().num_replicas_in_sync
  batch_size = recipe.batch_size or tf.cast(tf.size(labels) * replicas,
                                            tf.float32)
  variables = model.trainable_variables
  step = optimizer.iterations
  with tf.GradientTape() as tape:
    scores = model.objectives(
        tokens, lengths, labels, sample_anchors(model, lengths, recipe, step),
        supervised, anchors.step_seed(recipe.seed, step, FEED_STREAM))
    per_example = tf.add_n([
        (1.0 if name == SUPERVISED else recipe.aux_weight) * losses
        for name, (losses, _) in scores.items()])
    loss = tf.reduce_sum(per_example) / batch_size
    scales_loss = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    if scales_loss:
      loss = optimizer.scale_loss(loss)
  grads = tape.gradient(loss, variables)
  # While pretraining, the classifier head gets no gradient: leave it be.
  grads, variables = zip(*[(g, v) for g, v in zip(grads, variables)
                           if g is not None])
  # Clip the *global* gradient: sum replicas first. Keras sums replicas
  # again inside apply_gradients, so each replica hands it 1/n of the
  # clipped total.
  context = tf.distribute.get_replica_context()
  grads = context.all_reduce(SUM, list(grads))
  scale = optimizer.dynamic_scale if scales_loss else 1.0
  scaled_norm = tf.linalg.global_norm(grads)
  norm = scaled_norm / scale
  if recipe.clip_norm > 0:
    grads, _ = tf.clip_by_global_norm(grads, recipe.clip_norm * scale,
                                      use_norm=scaled_norm)
  optimizer.apply_gradients(zip([_divide(g, replicas) for g in grads],
                                variables))
  loss_sum = tf.reduce_sum(per_example)
  finite = tf.math.is_finite(context.all_reduce(SUM, loss_sum))
  if not scales_loss:
    finite &= tf.math.is_finite(norm)
  logs = {'count': tf.cast(tf.size(labels), tf.float32),
          'nonfinite': 1.0 - tf.cast(finite, tf.float32),
          'grad_norm': norm / replicas,
          'loss/total': loss_sum}
  for name, (losses, accuracy) in scores.items():
    loss_name, accuracy_name = metric_names(name)
    logs[loss_name] = tf.reduce_sum(losses)
    logs[accuracy_name] = tf.reduce_sum(accuracy)
  return logs


def evaluation_sums(model, tokens, lengths, labels) -> Dict[str, tf.Tensor]:
  """A batch's supervised scores, summed: 'count' examples, their
  cross-entropy 'loss/total' and 'accuracy' (correct predictions), from
  one gradient-free pass (the evaluator's and Keras `evaluate`'s)."""
  logits = model(tokens, lengths, training=False)
  losses, correct = losses_lib.cross_entropy_and_correct(labels, logits)
  return {'count': tf.cast(tf.size(labels), tf.float32),
          'loss/total': tf.reduce_sum(losses),
          'accuracy': tf.reduce_sum(correct)}


def _divide(gradient, divisor):
  """`gradient` / `divisor`, sparse gradients (a Keras `Embedding`'s
  IndexedSlices) kept sparse."""
  if isinstance(gradient, tf.IndexedSlices):
    return tf.IndexedSlices(gradient.values / divisor, gradient.indices,
                            gradient.dense_shape)
  return gradient / divisor


class KerasFit:
  """`compile` + `fit` / `evaluate` for a classifier with `objectives`.

  `fit` takes batches ((tokens, lengths), labels), as
  `input_pipeline.fit_dataset` makes them; each batch is one `update`,
  with the anchors, windows and phases of the command line's loop (the
  first `recipe.pretrain_steps` updates train the auxiliary losses alone;
  their supervised logs are 0). Logs are means over the examples seen in
  the epoch: 'loss' (the joint loss), each objective's loss and accuracy,
  and 'grad_norm' (over updates). `evaluate` gives the supervised 'loss'
  and 'accuracy'.
  """

  recipe = Recipe()

  def compile(self, optimizer='adam', recipe: Optional[Recipe] = None,
              **kwargs):
    """Keras' `compile`, plus the `Recipe` of every update (the default
    `Recipe()` when None). The losses and metrics are the model's own
    objectives, so `loss` and `metrics` are refused."""
    for name in ('loss', 'metrics', 'weighted_metrics'):
      if kwargs.get(name) is not None:
        raise ValueError(f'compile(): {name} is not taken; the model trains '
                         'and reports its own objectives')
    self.recipe = recipe or Recipe()
    names = ['loss', 'grad_norm'] + objective_metric_names(self)
    # Keras metric names may not hold '/'. Set past Keras' attribute
    # tracking, which refuses new state on a built model; `metrics` hands
    # them to Keras.
    object.__setattr__(self, '_means', {
        name: keras.metrics.Mean(name=name.replace('/', '_'))
        for name in names})
    super().compile(optimizer=optimizer, **kwargs)

  def fit(self, x=None, y=None, **kwargs):
    """Keras' `fit`. A dataset arrives shuffled by its own pipeline
    (`input_pipeline.train_dataset`), which Keras' `shuffle` cannot touch,
    so it defaults to False here instead of warning that it is ignored."""
    if isinstance(x, tf.data.Dataset):
      kwargs.setdefault('shuffle', False)
    return super().fit(x, y, **kwargs)

  @property
  def metrics(self):
    """The epoch means, so that Keras resets them between epochs."""
    return list(getattr(self, '_means', {}).values())

  def train_step(self, data):
    (tokens, lengths), labels = data
    batch = (tokens, lengths, labels)
    if not self.recipe.pretrain_steps:
      return self._record(update(self, self.optimizer, batch, self.recipe,
                                 supervised=True))
    names = (['count', 'nonfinite', 'grad_norm', 'loss/total']
             + objective_metric_names(self))

    def phase(supervised):
      logs = update(self, self.optimizer, batch, self.recipe, supervised)
      return [logs.get(name, tf.constant(0.0)) for name in names]

    values = tf.cond(self.optimizer.iterations >= self.recipe.pretrain_steps,
                     lambda: phase(True), lambda: phase(False))
    return self._record(dict(zip(names, values)))

  def test_step(self, data):
    (tokens, lengths), labels = data
    return self._record(evaluation_sums(self, tokens, lengths, labels))

  def _record(self, logs):
    """Adds a batch's sums to the epoch means; returns the means so far."""
    count = logs.pop('count')
    logs.pop('nonfinite', None)
    logs['loss'] = logs.pop('loss/total')
    for name, value in logs.items():
      if name == 'grad_norm':
        self._means[name].update_state(value)
      else:
        self._means[name].update_state(value / count, sample_weight=count)
    return {name: self._means[name].result() for name in logs}


class SupervisedOnly(KerasFit):
  """`KerasFit` for a classifier without a state to start a decoder from
  (the Transformer baseline): no auxiliary objective, and the supervised
  loss backpropagates through the whole sequence."""

  auxiliary_objectives = ()
  auxiliary_decoders = ()

  def objectives(self, tokens, lengths, labels, anchors=None,
                 supervised: bool = True, feed_seed=None
                 ) -> Dict[str, Tuple[tf.Tensor, tf.Tensor]]:
    """{'supervised': (loss (B,), accuracy (B,))}, or {} while
    pretraining (there is nothing to pretrain)."""
    del anchors, feed_seed
    if not supervised:
      return {}
    logits = self(tokens, lengths, training=True)
    return {SUPERVISED: losses_lib.cross_entropy_and_correct(labels, logits)}
