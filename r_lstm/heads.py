"""Feed-forward heads: the classifier's and the decoders' softmax heads."""

from typing import Sequence

import keras


def feed_forward(hidden_units: Sequence[int], num_outputs: int,
                 input_dim: int, name: str) -> keras.Sequential:
  """ReLU layers of `hidden_units`, then a linear layer of logits; built."""
  head = keras.Sequential(
      [keras.layers.Dense(n, activation='relu') for n in hidden_units]
      + [keras.layers.Dense(num_outputs)], name=name)
  head.build((None, input_dim))
  return head
