"""How much memory one update of a run needs, checked before it starts.

A run that cannot fit fails in TensorFlow with ResourceExhausted (or the
kernel kills it) after its files are written. `check` refuses it first,
naming the fields that make it large. The estimate is the sum of what each
module says it keeps for one update (`Terms`): the backbone's module
(`registry.Backbone.module`'s `memory_terms`), which adds its cell's
gradient windows (`cells.RecurrentCell.window_bytes`) and each auxiliary
objective's decoder (`objectives.base.AuxiliaryDecoder.memory_terms`). A new
backbone, cell or objective brings its own terms, so none can be left out.
It is an estimate of the largest terms, not TensorFlow's exact peak.
"""

from typing import Dict, NamedTuple, Optional

from r_lstm import host
from r_lstm.errors import UsageError

FLOAT_BYTES = 4

# The config fields the terms' names mention.
SIZE_FIELDS = ('batch_size', 'eval_batch_size', 'bptt', 'num_anchors',
               'aux_length')


class Shape(NamedTuple):
  """What the data fixes of a model's size."""
  max_length: int
  channels: int
  vocab_size: int
  num_classes: int

  @classmethod
  def of(cls, data) -> 'Shape':
    """The shape of an `input_pipeline.SequenceData`."""
    return cls(data.max_length, data.channels, data.vocab_size,
               data.num_classes)


class Terms(NamedTuple):
  """A module's share of one update: its weights (floats; each also has a
  gradient and two optimizer slots) and the tensors it keeps for the
  backward pass ({what: bytes})."""
  weights: int
  kept: Dict[str, int]

  def __add__(self, other: 'Terms') -> 'Terms':
    return Terms(self.weights + other.weights, {**self.kept, **other.kept})


def dense_weights(sizes) -> int:
  """Weights of dense layers of `sizes` = (input, hidden..., output)."""
  return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def update_terms(config, shape: Shape) -> Dict[str, int]:
  """{what: bytes} of the largest tensors of one training update."""
  terms = config.backbone_entry.load().memory_terms(config, shape)
  return {'weights (x4 with gradient and optimizer slots)':
              4 * FLOAT_BYTES * terms.weights, **terms.kept}


def check(config, shape: Shape, available: Optional[int] = None) -> None:
  """Raises UsageError when one update needs more memory than is free."""
  available = available if available is not None else host.available_bytes()
  if available is None:
    return
  terms = update_terms(config, shape)
  needed = sum(terms.values())
  if needed > available:
    largest = max(terms, key=terms.get)
    raise UsageError(
        f'one update of this run needs about {needed / 2 ** 30:,.1f} GiB, '
        f'more than the {available / 2 ** 30:,.1f} GiB free here; the '
        f'largest part is the {largest}: {terms[largest] / 2 ** 30:,.1f} GiB',
        fields=SIZE_FIELDS)
