"""Recurrent cells: an LSTM and a GRU, each with its step math in one place.

A cell's step is written once, as two halves that share it:
`forward_step` (the next state, and what the backward half needs of the
step) and `backward_step` (the gradients of one step, by hand). `step` is
`forward_step`'s state, so the loop that TensorFlow differentiates
(`unroll.scan`) and the whole-sequence kernel with its own backward pass
(`r_lstm.sequence`) compute the same forward values with the same ops;
the tests hold `backward_step` to TensorFlow's gradient of `step`.

The input matmul is separate from the recurrent step (`project` vs
`step`), so a whole window of inputs is projected in one matmul (or one
table gather) outside the sequential loop.
"""

import functools
from typing import Tuple

import keras
import tensorflow as tf

from r_lstm import initializers, memory, sequence

State = Tuple[tf.Tensor, ...]


class RecurrentCell(keras.layers.Layer):
  """What `LSTMCell` and `GRUCell` share: a kernel (input_dim, gates * u),
  a recurrent kernel (u, gates * u) and a bias; a zero state of one (N, u)
  part per `state_names`; h as the output (the first state part).
  `initialization` chooses the starting distributions (Keras' by default;
  see `r_lstm.initializers`).
  """
  state_names: Tuple[str, ...] = ()
  gates = 0  # Gate blocks of `units` columns in the kernels.
  saved_gates = 0  # The (N, units) tensors `forward_step` saves.
  # Whether `backward_step`'s two pre-activation gradients are one tensor
  # (the recurrent kernel multiplies what the input projection adds to).
  recurrent_gradient_is_input_gradient = False
  keras_class = None  # The Keras layer with the same weights and step.
  # Floats per unit per step a gradient window keeps for the backward pass
  # (the memory estimate, `window_bytes`).
  stored_floats_per_unit = 0
  # `kernels/<name>.cc`: this cell's step loops compiled (`r_lstm.compiled`),
  # or None.
  compiled_kernel = None

  def __init__(self, input_dim: int, units: int,
               initialization: initializers.Initialization = initializers.KERAS,
               **kwargs):
    super().__init__(**kwargs)
    self.input_dim = input_dim
    self.units = units
    self.initialization = initializers.Initialization.of(initialization)
    kernel, recurrent, bias = self._initializers(input_dim, units)
    self.kernel = self.add_weight(
        shape=(input_dim, self.gates * units), initializer=kernel,
        name='kernel')
    self.recurrent_kernel = self.add_weight(
        shape=(units, self.gates * units), initializer=recurrent,
        name='recurrent_kernel')
    self.bias = self.add_weight(
        shape=self._bias_shape(units), initializer=bias, name='bias')
    self.built = True

  @classmethod
  def window_bytes(cls, rows: int, steps: int, units: int) -> int:
    """What a gradient window of `rows` x `steps` keeps, in bytes."""
    return (rows * steps * units * cls.stored_floats_per_unit
            * memory.FLOAT_BYTES)

  @classmethod
  def weight_count(cls, input_dim: int, units: int) -> int:
    return (input_dim + units + 2) * cls.gates * units

  def _initializers(self, input_dim: int, units: int):
    """(kernel, recurrent kernel, bias) initializers."""
    raise NotImplementedError

  def _bias_shape(self, units: int) -> Tuple[int, ...]:
    raise NotImplementedError

  @property
  def input_bias(self) -> tf.Tensor:
    """The bias of the input projection: a step that reads nothing."""
    raise NotImplementedError

  def recurrent_weights(self) -> Tuple[tf.Tensor, ...]:
    """What the recurrent step reads besides the state, in the compute
    dtype: the recurrent kernel first, then any recurrent bias."""
    return (self.computed(self.recurrent_kernel),)

  @staticmethod
  def forward_step(projected: tf.Tensor, state: State,
                   weights: Tuple[tf.Tensor, ...]):
    """(next state, saved): one step from the projected inputs (N, gates *
    units); saved is a tuple of `saved_gates` (N, units) tensors, what
    `backward_step` needs of the step besides the states."""
    raise NotImplementedError

  @staticmethod
  def backward_step(saved: tf.Tensor, state: State, new_state: State,
                    d_new_state: State, recurrent_kernel_t: tf.Tensor):
    """One step's gradients, by hand.

    Args:
      saved: what `forward_step` saved of the step (its tuple).
      state, new_state: the state before and after the step.
      d_new_state: the loss's gradient with respect to `new_state`.
      recurrent_kernel_t: the recurrent kernel, transposed.

    Returns:
      (d projected (N, gates * u), d recurrent pre-activation (N, gates * u),
      d state): the pre-activation gradient is what the recurrent kernel
      multiplied, so the kernel's gradient is `state h`ᵀ times it.
    """
    raise NotImplementedError

  def step(self, projected: tf.Tensor, state: State) -> State:
    """One recurrent step from projected inputs (N, gates * units)."""
    return self.forward_step(projected, tuple(state),
                             self.recurrent_weights())[0]

  def sequence(self, projected: tf.Tensor, state: State, active=None,
               compiled: bool = False):
    """(final state, outputs (L, N, units)) over projected inputs (L, N,
    gates * units), with the hand-written backward pass
    (`r_lstm.sequence.run`; `compiled`: as the cell's compiled kernel)."""
    return sequence.run(self, projected, state, active, compiled)

  def compiled_states(self):
    """`sequence.states` of this cell, a function of (projected, state),
    where its compiled kernel applies, else None."""
    ops = sequence.compiled_ops(self, self.compute_dtype)
    return ops and functools.partial(sequence.states, self, ops)

  def get_config(self):
    return {**super().get_config(), 'input_dim': self.input_dim,
            'units': self.units,
            'initialization': self.initialization.to_dict()}

  def computed(self, weight) -> tf.Tensor:
    """`weight` in the compute dtype of the layer's dtype policy (float32
    weights, bfloat16 or float16 arithmetic under mixed precision). The
    unroll reads weights outside the layer's own call, where Keras does not
    cast them."""
    return tf.cast(weight, self.compute_dtype)

  def keras_layer(self) -> keras.layers.Layer:
    """The Keras recurrent layer of this cell's kind, computing with this
    cell's own variables (the same objects, not copies), returning the
    sequence and the final state. Keras runs it on cuDNN on a GPU when
    its conditions hold."""
    # Its initializers and seed are never used (the weights are the cell's,
    # no dropout); zeros and a fixed seed draw nothing from the random state
    # that the weights made after it start from.
    layer = self.keras_class(
        self.units, return_sequences=True, return_state=True,
        kernel_initializer='zeros', recurrent_initializer='zeros',
        bias_initializer='zeros', seed=0, dtype=self.dtype_policy)
    layer.cell.kernel = self.kernel
    layer.cell.recurrent_kernel = self.recurrent_kernel
    layer.cell.bias = self.bias
    layer.cell.built = layer.built = True  # Its weights are set: no build.
    return layer

  def project(self, inputs: tf.Tensor) -> tf.Tensor:
    """Input half of the gate pre-activations, the input bias included.

    A block of steps (L, N, input_dim) is projected as one 2-D matmul: a
    3-D `tf.matmul` is a broadcast batch matmul, half as fast here, whose
    kernel gradient materialises one (input_dim, gates) product per step.
    """
    inputs = tf.cast(inputs, self.compute_dtype)
    flat = tf.reshape(inputs, [-1, self.input_dim])
    projected = tf.matmul(flat, self.computed(self.kernel)) + self.input_bias
    return tf.reshape(projected, tf.concat(
        [tf.shape(inputs)[:-1], [self.gates * self.units]], axis=0))

  def zero_state(self, batch_size) -> State:
    return tuple(tf.zeros([batch_size, self.units], self.compute_dtype)
                 for _ in self.state_names)

  def output(self, state: State) -> tf.Tensor:
    return state[0]


def _sigmoid_grad(y, dy):
  """d sigmoid from its output y, as TensorFlow's SigmoidGrad computes it."""
  return dy * (y * (1 - y))


def _tanh_grad(y, dy):
  """d tanh from its output y, as TensorFlow's TanhGrad computes it."""
  return dy * (1 - y * y)


@keras.saving.register_keras_serializable(package='r_lstm')
class LSTMCell(RecurrentCell):
  """An LSTM cell with Keras' gate layout (i, f, c, o); its state is (h, c).

  The weights have the same shapes and meaning as `keras.layers.LSTM`'s
  (kernel, recurrent_kernel, bias), so weights can be copied between the
  two.
  """
  state_names = ('h', 'c')
  gates = 4
  saved_gates = 4  # The activated gates i, f, g, o.
  recurrent_gradient_is_input_gradient = True
  keras_class = keras.layers.LSTM
  # Four gate pre-activations, four activations, c, tanh(c), h and the
  # projected input.
  stored_floats_per_unit = 16
  compiled_kernel = 'lstm_sequence'

  def _initializers(self, input_dim, units):
    return self.initialization.lstm_initializers(input_dim, units)

  def _bias_shape(self, units):
    return (4 * units,)

  @property
  def input_bias(self) -> tf.Tensor:
    return self.computed(self.bias)

  @staticmethod
  def forward_step(projected, state, weights):
    h, c = state
    (recurrent_kernel,) = weights
    z = projected + tf.matmul(h, recurrent_kernel)
    i, f, g, o = tf.split(z, 4, axis=-1)
    i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
    c = f * c + i * g
    h = o * tf.tanh(c)
    return (h, c), (i, f, g, o)

  @staticmethod
  def backward_step(saved, state, new_state, d_new_state,
                    recurrent_kernel_t):
    i, f, g, o = saved
    c_before = state[1]
    c = new_state[1]
    dh, dc = d_new_state
    tanh_c = tf.tanh(c)
    dc = dc + _tanh_grad(tanh_c, dh * o)
    dz = tf.concat([_sigmoid_grad(i, dc * g), _sigmoid_grad(f, dc * c_before),
                    _tanh_grad(g, dc * i), _sigmoid_grad(o, dh * tanh_c)],
                   axis=-1)
    return dz, dz, (tf.matmul(dz, recurrent_kernel_t), dc * f)


@keras.saving.register_keras_serializable(package='r_lstm')
class GRUCell(RecurrentCell):
  """A GRU cell with Keras' layout: gates (z, r, h), the reset gate applied
  after the recurrent matmul (`keras.layers.GRU(reset_after=True)`, which is
  also PyTorch's `nn.GRU`), bias (2, 3 * units): input and recurrent.

  Its state is (h,). The weights can be copied to and from
  `keras.layers.GRU`.
  """
  state_names = ('h',)
  gates = 3
  saved_gates = 4  # z, r, the candidate, and the recurrent candidate input.
  keras_class = keras.layers.GRU  # reset_after=True, Keras' default.
  # Three gate pre-activations and activations, the recurrent projection,
  # h and the projected input.
  stored_floats_per_unit = 13

  def _initializers(self, input_dim, units):
    return self.initialization.gru_initializers(input_dim, units)

  def _bias_shape(self, units):
    return (2, 3 * units)

  @property
  def input_bias(self) -> tf.Tensor:
    return self.computed(self.bias[0])

  def recurrent_weights(self):
    return (self.computed(self.recurrent_kernel),
            self.computed(self.bias[1]))

  @staticmethod
  def forward_step(projected, state, weights):
    (h,) = state
    recurrent_kernel, recurrent_bias = weights
    recurrent = tf.matmul(h, recurrent_kernel) + recurrent_bias
    x_z, x_r, x_h = tf.split(projected, 3, axis=-1)
    h_z, h_r, h_h = tf.split(recurrent, 3, axis=-1)
    z = tf.sigmoid(x_z + h_z)
    r = tf.sigmoid(x_r + h_r)
    candidate = tf.tanh(x_h + r * h_h)
    return (z * h + (1 - z) * candidate,), (z, r, candidate, h_h)

  @staticmethod
  def backward_step(saved, state, new_state, d_new_state,
                    recurrent_kernel_t):
    del new_state  # The saved gates hold all the step needs.
    z, r, candidate, h_h = saved
    (h,) = state
    (dh,) = d_new_state
    d_z = _sigmoid_grad(z, dh * (h - candidate))
    d_candidate = _tanh_grad(candidate, dh * (1 - z))
    d_r = _sigmoid_grad(r, d_candidate * h_h)
    d_projected = tf.concat([d_z, d_r, d_candidate], axis=-1)
    d_recurrent = tf.concat([d_z, d_r, d_candidate * r], axis=-1)
    return d_projected, d_recurrent, (
        dh * z + tf.matmul(d_recurrent, recurrent_kernel_t),)


# The cells a backbone names (`registry.Backbone.cell`): the recurrent cell
# of its encoder and of its decoders.
CELLS = {'lstm': LSTMCell, 'gru': GRUCell}
