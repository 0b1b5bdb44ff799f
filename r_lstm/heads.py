"""Feed-forward heads: the classifier's and the decoders' softmax heads."""

from typing import Sequence

import keras

from r_lstm import initializers


def feed_forward(
    hidden_units: Sequence[int], num_outputs: int, input_dim: int, name: str,
    initialization: initializers.Initialization = initializers.KERAS
) -> keras.Sequential:
  """ReLU layers of `hidden_units`, then a linear layer of logits; built.

  The logits layer computes in float32 under any dtype policy (Keras'
  mixed-precision rule: the softmax and the loss in full precision).
  """
  fan_ins = [input_dim, *hidden_units]
  head = keras.Sequential(
      [initialization.make_dense(n, fan_in, activation='relu')
       for n, fan_in in zip(hidden_units, fan_ins)]
      + [initialization.make_dense(num_outputs, fan_ins[-1],
                                   dtype='float32')], name=name)
  head.build((None, input_dim))
  return head
