"""The learning rate along a run: a linear warm-up, then constant or a
decay to 0 at the last update (`--lr_schedule`, `--warmup_steps`).

One schedule class covers the three shapes with and without warm-up:
Keras has the cosine with a warm-up (`CosineDecay(warmup_steps=...)`) but no
warm-up before a constant rate or a linear decay, and one formula keeps the
three consistent. It is a function of the optimizer's update count, which
checkpoints hold, so a resumed run continues it exactly.
"""

import math

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package='r_lstm')
class WarmupThenDecay(keras.optimizers.schedules.LearningRateSchedule):
  """The rate of the update that follows `step` applied updates:
  `peak` * (step + 1) / warmup_steps during the warm-up (its first update
  already moves the weights, its last has the peak), then `peak`
  (constant), or `peak` falling along a half cosine (cosine) or a line
  (linear) to reach 0 at step `total_steps` (the update after the last).
  """

  def __init__(self, peak: float, shape: str, warmup_steps: int,
               total_steps: int):
    super().__init__()
    self.peak, self.shape = peak, shape
    self.warmup_steps, self.total_steps = warmup_steps, total_steps

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    warmup = float(max(self.warmup_steps, 1))
    rising = self.peak * tf.minimum((step + 1.0) / warmup, 1.0)
    after = tf.maximum(step - self.warmup_steps, 0.0)
    span = float(max(self.total_steps - self.warmup_steps, 1))
    done = tf.minimum(after / span, 1.0)
    if self.shape == 'cosine':
      scale = 0.5 * (1.0 + tf.cos(math.pi * done))
    elif self.shape == 'linear':
      scale = 1.0 - done
    else:
      scale = tf.ones_like(done)
    return tf.where(step < self.warmup_steps, rising, self.peak * scale)

  def get_config(self):
    return {'peak': self.peak, 'shape': self.shape,
            'warmup_steps': self.warmup_steps,
            'total_steps': self.total_steps}


def learning_rate(config):
  """The optimizer's learning rate: the plain number when constant with no
  warm-up (the paper's runs, unchanged), else a `WarmupThenDecay`."""
  if config.lr_schedule == 'constant' and not config.warmup_steps:
    return config.learning_rate
  return WarmupThenDecay(config.learning_rate, config.lr_schedule,
                         config.warmup_steps, config.train_steps)
