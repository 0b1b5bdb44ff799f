"""Weight initialization schemes: the distribution each part of a model
starts from.

The paper does not say how its weights were initialized, and on truncated
pixel MNIST the choice decides whether the r-LSTM leaves the chance plateau
(docs/FIDELITY.md, "Initialization"). A scheme names the defaults of one
framework, part by part:

| part | `keras` (Keras 3) | `torch` (PyTorch / Torch7) | `tf1` (TF 1.x, 2018) |
|---|---|---|---|
| embedding | U(+-0.05) | N(0, 1) | Glorot-uniform over (vocab, dim) |
| LSTM kernel | Glorot-uniform (in, 4u) | U(+-1/sqrt(u)) | Glorot-uniform over the |
| LSTM recurrent kernel | orthogonal (u, 4u) | U(+-1/sqrt(u)) | joint [x, h] kernel (in + u, 4u) |
| LSTM bias | 0, forget gate 1 | b_ih + b_hh, each U(+-1/sqrt(u)) | 0, forget gate 1 |
| dense kernel | Glorot-uniform | U(+-1/sqrt(fan_in)) | Glorot-uniform |
| dense bias | 0 | U(+-1/sqrt(fan_in)) | 0 |

Sources: `keras.layers.LSTM`/`Embedding`/`Dense` defaults; PyTorch's
`nn.LSTM.reset_parameters` (every weight and both biases U(+-1/sqrt(u))),
`nn.Embedding` (N(0, 1)) and `nn.Linear` (kaiming-uniform with a = sqrt(5),
i.e. U(+-1/sqrt(fan_in)), bias the same); TF 1.x `tf.nn.rnn_cell.LSTMCell`
(one kernel over the concatenated [x, h], drawn by `tf.get_variable`'s
default Glorot-uniform initializer, zero bias, `forget_bias=1.0` added inside
the cell, which trains exactly like a forget bias started at 1),
`tf.get_variable` for the embedding and `tf.layers.dense` (Glorot-uniform,
zero bias). PyTorch's two LSTM biases are one parameter here: it starts as
the sum of two independent U(+-1/sqrt(u)) draws, as in PyTorch.

A GRU (`--cell=gru`) takes its weights and biases from the `lstm_weights`
and `lstm_bias` parts: keras Glorot / orthogonal / zeros
(`keras.layers.GRU`); torch U(+-1/sqrt(u)) for every weight and for each of
b_ih and b_hh (`nn.GRU`); tf1 `tf.nn.rnn_cell.GRUCell`'s Glorot-uniform
gates (in + u, 2u) and candidate (in + u, u) kernels, gate bias 1 and
candidate bias 0 (TF 1.x resets before the recurrent matmul, this cell after
it, as Keras and PyTorch do).

Each part can be set on its own (`Initialization.parts`), so that an
ablation can say which part matters.
"""

import dataclasses
import math
from typing import Dict, Mapping, Optional, Tuple, Union

import keras
import tensorflow as tf

from r_lstm import configs

SCHEMES = configs.INIT_SCHEMES
PARTS = configs.INIT_PARTS


class SumOfUniforms(keras.initializers.Initializer):
  """The sum of `count` independent U(-limit, limit) draws (PyTorch's
  b_ih + b_hh folded into one bias)."""

  def __init__(self, limit: float, count: int = 2):
    self.limit = limit
    self.count = count
    self._parts = [keras.initializers.RandomUniform(-limit, limit)
                   for _ in range(count)]

  def __call__(self, shape, dtype=None):
    return sum(part(shape, dtype=dtype) for part in self._parts)

  def get_config(self):
    return {'limit': self.limit, 'count': self.count}


class UnitForgetBias(keras.initializers.Initializer):
  """Zeros with the forget gate's quarter at 1 (gate layout i, f, c, o)."""

  def __init__(self, units: int):
    self.units = units

  def __call__(self, shape, dtype=None):
    del shape
    units = self.units
    return tf.concat([tf.zeros([units]), tf.ones([units]),
                      tf.zeros([2 * units])], axis=0)

  def get_config(self):
    return {'units': self.units}


class GateBlocks(keras.initializers.Initializer):
  """U(+-limit_z_r) for the z and r gates' columns, U(+-limit_h) for the
  candidate's: TF 1.x GRUCell's two kernels laid out as one (gates z, r, h)."""

  def __init__(self, units: int, limits: Tuple[float, float]):
    self.units = units
    self.limits = tuple(limits)

  def __call__(self, shape, dtype=None):
    rows = shape[0]
    gates = _uniform(self.limits[0])((rows, 2 * self.units), dtype=dtype)
    candidate = _uniform(self.limits[1])((rows, self.units), dtype=dtype)
    return tf.concat([gates, candidate], axis=-1)

  def get_config(self):
    return {'units': self.units, 'limits': list(self.limits)}


class GRUGateBias(keras.initializers.Initializer):
  """TF 1.x GRUCell's biases: its gates' bias starts at 1, the candidate's
  at 0; one input row and a zero recurrent row (shape (2, 3u))."""

  def __init__(self, units: int):
    self.units = units

  def __call__(self, shape, dtype=None):
    del shape
    units = self.units
    inputs = tf.concat([tf.ones([2 * units]), tf.zeros([units])], axis=0)
    return tf.stack([inputs, tf.zeros([3 * units])])

  def get_config(self):
    return {'units': self.units}


def _uniform(limit: float) -> keras.initializers.Initializer:
  return keras.initializers.RandomUniform(-limit, limit)


def _glorot_limit(fan_in: int, fan_out: int) -> float:
  return math.sqrt(6.0 / (fan_in + fan_out))


@dataclasses.dataclass(frozen=True)
class Initialization:
  """The scheme of each part (each one of `SCHEMES`).

  Every method returns fresh initializer objects: Keras draws a seed when an
  initializer is made, so one object reused for two weights would give them
  the same values.
  """
  embedding: str = 'keras'
  lstm_weights: str = 'keras'
  lstm_bias: str = 'keras'
  dense: str = 'keras'

  @classmethod
  def from_scheme(cls, scheme: str, **parts: Optional[str]
                  ) -> 'Initialization':
    """Every part from `scheme`, except the parts given (None: `scheme`)."""
    return cls(**{part: parts.get(part) or scheme for part in PARTS})

  @classmethod
  def from_config(cls, config: configs.Config) -> 'Initialization':
    """The scheme `--init` and its per-part flags name."""
    return cls.from_scheme(config.init, **{
        part: getattr(config, field)
        for field, part in configs.INIT_PART_FIELDS.items()})

  @classmethod
  def of(cls, value: Union['Initialization', Mapping[str, str]]
         ) -> 'Initialization':
    """`value` itself, or the scheme its `to_dict` form names (a layer's
    `get_config` holds that form)."""
    return value if isinstance(value, cls) else cls(**value)

  def to_dict(self) -> Dict[str, str]:
    return dataclasses.asdict(self)

  @property
  def parts(self) -> Tuple[str, ...]:
    return tuple(getattr(self, part) for part in PARTS)

  def embedding_initializer(self, vocab_size: int, embed_dim: int
                            ) -> keras.initializers.Initializer:
    """For one (vocab_size x embed_dim) table per channel."""
    if self.embedding == 'torch':
      return keras.initializers.RandomNormal(0.0, 1.0)
    if self.embedding == 'tf1':
      return _uniform(_glorot_limit(vocab_size, embed_dim))
    return _uniform(0.05)

  def lstm_initializers(self, input_dim: int, units: int):
    """(kernel, recurrent_kernel, bias) initializers of an LSTM cell with
    kernel (input_dim, 4u), recurrent kernel (u, 4u) and bias (4u,)."""
    if self.lstm_weights == 'torch':
      kernel, recurrent = (_uniform(1 / math.sqrt(units)),
                           _uniform(1 / math.sqrt(units)))
    elif self.lstm_weights == 'tf1':
      limit = _glorot_limit(input_dim + units, 4 * units)
      kernel, recurrent = _uniform(limit), _uniform(limit)
    else:
      kernel, recurrent = (keras.initializers.GlorotUniform(),
                           keras.initializers.Orthogonal())
    if self.lstm_bias == 'torch':
      bias = SumOfUniforms(1 / math.sqrt(units))
    else:  # keras and tf1 both start the forget gate at 1.
      bias = UnitForgetBias(units)
    return kernel, recurrent, bias

  def gru_initializers(self, input_dim: int, units: int):
    """(kernel, recurrent_kernel, bias) initializers of a GRU cell with
    kernel (input_dim, 3u), recurrent kernel (u, 3u) and bias (2, 3u) (input
    and recurrent; gates z, r, h). The `lstm_weights` and `lstm_bias` parts
    choose them, as they do an LSTM's."""
    if self.lstm_weights == 'torch':
      kernel, recurrent = (_uniform(1 / math.sqrt(units)),
                           _uniform(1 / math.sqrt(units)))
    elif self.lstm_weights == 'tf1':
      # tf.nn.rnn_cell.GRUCell: a gates kernel (in + u, 2u) and a candidate
      # kernel (in + u, u) over the joint [x, h], each Glorot-uniform.
      kernel, recurrent = (GateBlocks(units, (
          _glorot_limit(input_dim + units, 2 * units),
          _glorot_limit(input_dim + units, units))) for _ in range(2))
    else:
      kernel, recurrent = (keras.initializers.GlorotUniform(),
                           keras.initializers.Orthogonal())
    if self.lstm_bias == 'torch':
      bias = _uniform(1 / math.sqrt(units))  # b_ih and b_hh, one row each.
    elif self.lstm_bias == 'tf1':
      bias = GRUGateBias(units)
    else:
      bias = keras.initializers.Zeros()
    return kernel, recurrent, bias

  def dense_initializers(self, fan_in: int):
    """(kernel, bias) initializers of a dense layer reading `fan_in`."""
    if self.dense == 'torch':
      limit = 1 / math.sqrt(fan_in)
      return _uniform(limit), _uniform(limit)
    return keras.initializers.GlorotUniform(), keras.initializers.Zeros()

  def make_dense(self, units: int, fan_in: int, **kwargs
                 ) -> keras.layers.Dense:
    """A `keras.layers.Dense` with this scheme's initializers."""
    kernel, bias = self.dense_initializers(fan_in)
    return keras.layers.Dense(units, kernel_initializer=kernel,
                              bias_initializer=bias, **kwargs)


KERAS = Initialization()
