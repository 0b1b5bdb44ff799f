"""The recurrent core interface (the shape of Sonnet's `RNNCore`) and the
cores made of other cores: a cell behind a projection-table gather
(`ProjectedCore`) and a stack of layers (`StackedCore`, Sonnet's
`DeepRNN`). `r_lstm.unroll` runs any of them with its truncation windows.

A core: `project` maps one slice of time-major inputs (..., B, ...) to the input half
of the gate pre-activations, `step` advances the state from projected inputs,
`zero_state` starts it and `output` reads what the next layer sees; `sequence`
runs it over a whole block of projected inputs with a hand-written backward
pass (`r_lstm.sequence`). A state is a tuple of (B, size) tensors: (h, c)
for `cells.LSTMCell`, (h,) for `cells.GRUCell`.
Projecting outside the loop lets a whole window be projected in one matmul,
or for token inputs one row gather from a precomputed (vocabulary x gates)
table (`ProjectedCore`), so embeddings are never materialised for the whole
sequence.
"""

import dataclasses
from typing import Callable, Optional, Protocol, Tuple

import tensorflow as tf

State = Tuple[tf.Tensor, ...]
Project = Callable[[tf.Tensor], tf.Tensor]


class Core(Protocol):
  """What the unroll needs of a recurrent network."""
  units: int
  state_names: Tuple[str, ...]  # One (N, size) part of the state each.

  def project(self, inputs: tf.Tensor) -> tf.Tensor:
    """Input half of the gate pre-activations, (..., N, gates)."""

  def step(self, projected: tf.Tensor, state: State) -> State:
    """The next state from projected inputs (N, gates)."""

  def zero_state(self, batch_size) -> State:
    """The state before the first step."""

  def output(self, state: State) -> tf.Tensor:
    """What a step emits: (N, units)."""

  def sequence(self, projected: tf.Tensor, state: State,
               active: Optional[tf.Tensor] = None, compiled: bool = False):
    """(final state, outputs (L, N, units)) of `step` over projected
    inputs (L, N, gates), with a hand-written backward pass; `active` as
    for `scan`; `compiled`: as compiled kernels where the cells have one."""

  def compiled_states(self) -> Optional[Callable]:
    """A function (projected (L, N, gates), state) -> every state, each
    part (L + 1, N, size), by a compiled kernel and with no gradient; None
    where the core has no such kernel (the caller runs `step`)."""


@dataclasses.dataclass(frozen=True)
class ProjectedCore:
  """`cell` reading its inputs through another projection (a token table
  gather in place of the cell's own matmul)."""
  cell: Core
  project: Project

  @property
  def units(self) -> int:
    return self.cell.units

  def step(self, projected: tf.Tensor, state: State) -> State:
    return self.cell.step(projected, state)

  def zero_state(self, batch_size) -> State:
    return self.cell.zero_state(batch_size)

  def output(self, state: State) -> tf.Tensor:
    return self.cell.output(state)

  def sequence(self, projected, state, active=None, compiled=False):
    return self.cell.sequence(projected, state, active, compiled)

  def compiled_states(self):
    return self.cell.compiled_states()

  @property
  def state_names(self) -> Tuple[str, ...]:
    return self.cell.state_names


@dataclasses.dataclass(frozen=True)
class StackedCore:
  """Cores stacked in depth (Sonnet's `DeepRNN`): each step runs the bottom
  core on the step's projected input, then every core above on the output
  of the one below (through its own `project`). The state is the layers'
  state parts in order, bottom first.

  `step` runs one loop over all layers (the autodiff path): layer k's step
  j and layer k + 1's step j - 1 are independent, so TensorFlow's loop runs
  them at the same time, and no (L, N, gates) block of an upper layer is
  stored. `sequence` runs layer after layer instead, each upper layer's
  inputs projected as one block: the hand-written backward pass keeps
  every layer's gates anyway, and one large matmul per layer is faster than
  L small ones.
  """
  cores: Tuple[Core, ...]

  @property
  def units(self) -> int:
    return self.cores[-1].units

  @property
  def state_names(self) -> Tuple[str, ...]:
    return tuple(f'{k}/{name}' for k, core in enumerate(self.cores)
                 for name in core.state_names)

  def project(self, inputs: tf.Tensor) -> tf.Tensor:
    return self.cores[0].project(inputs)

  def layer_states(self, state: State) -> Tuple[State, ...]:
    """`state` split into each core's own state, bottom first."""
    states, first = [], 0
    for core in self.cores:
      states.append(tuple(state[first:first + len(core.state_names)]))
      first += len(core.state_names)
    return tuple(states)

  def step(self, projected: tf.Tensor, state: State) -> State:
    layers = self.layer_states(state)
    part = tuple(self.cores[0].step(projected, layers[0]))
    new_state = list(part)
    for below, core, layer in zip(self.cores, self.cores[1:], layers[1:]):
      part = tuple(core.step(core.project(below.output(part)), layer))
      new_state.extend(part)
    return tuple(new_state)

  def sequence(self, projected, state, active=None, compiled=False):
    final, outputs, inputs = [], None, projected
    for k, (core, layer) in enumerate(zip(self.cores,
                                          self.layer_states(state))):
      if k:
        inputs = core.project(outputs)
      layer_final, outputs = core.sequence(inputs, layer, active, compiled)
      final.extend(layer_final)
    return tuple(final), outputs

  def compiled_states(self):
    return None  # A stack's states are never captured.

  def zero_state(self, batch_size) -> State:
    return tuple(part for core in self.cores
                 for part in core.zero_state(batch_size))

  def output(self, state: State) -> tf.Tensor:
    return self.cores[-1].output(self.layer_states(state)[-1])
