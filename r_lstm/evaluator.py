"""Evaluation of a run's model: accuracy over a split and segment images.

Kept apart from the trainer, as Orbit keeps its evaluator: it reads the
model and never updates it, so the outer loop, `r_lstm.evaluate` and the
export path use it alike.
"""

from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from r_lstm import input_pipeline, summaries, steps


class Evaluator:
  """Scores `model` on `data.test`, the split the run reports."""

  def __init__(self, model, data: input_pipeline.SequenceData,
               batch_size: int, seed: int,
               strategy: Optional[tf.distribute.Strategy] = None):
    self.model = model
    self.data = data
    self.batch_size = batch_size
    self.seed = seed
    self.strategy = strategy or tf.distribute.get_strategy()

  def _eval_step(self, batch) -> Dict[str, tf.Tensor]:
    return steps.evaluation_sums(self.model, *batch)

  @tf.function(reduce_retracing=True)
  def _distributed_eval_step(self, batch):
    logs = self.strategy.run(self._eval_step, args=(batch,))
    return {k: self.strategy.reduce(steps.SUM, v, axis=None)
            for k, v in logs.items()}

  def evaluate(self) -> Dict[str, float]:
    """Loss and accuracy over every example of the evaluation split."""
    dataset = self.strategy.experimental_distribute_dataset(
        input_pipeline.eval_dataset(self.data.test, self.batch_size))
    totals = {'loss/total': 0.0, 'accuracy': 0.0, 'count': 0.0}
    for batch in dataset:
      for name, value in self._distributed_eval_step(batch).items():
        totals[name] += float(value)
    return {'loss': totals['loss/total'] / totals['count'],
            'accuracy': totals['accuracy'] / totals['count'],
            'examples': totals['count']}

  def segment_images(self, num_examples: int = 4) -> Dict[str, np.ndarray]:
    """Original vs teacher-forced decoder output on the first evaluation
    images, one anchor each, placed so that the segment is centred."""
    decoders = self.model.auxiliary_decoders
    if self.data.image_shape is None or not decoders:
      return {}
    split = self.data.test
    tokens = split.tokens[:num_examples]
    valid = tf.ones([len(tokens)], tf.bool)
    anchors = {decoder.objective: (
        tf.fill([len(tokens), 1],
                decoder.centred_anchor(self.data.max_length)), valid)
               for decoder in decoders}
    predictions = self.model.predict_segments(
        tokens, split.lengths[:num_examples], anchors,
        feed_seed=tf.constant([self.seed, steps.FEED_STREAM], tf.int64))
    return {f'segments/{name}': summaries.segment_images(
        tokens, positions.numpy(), predicted.numpy(), self.data.image_shape)
            for name, (positions, predicted) in predictions.items()}
