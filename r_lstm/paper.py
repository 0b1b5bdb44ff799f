"""The paper's Table 2: its cells, their test accuracies and preset names.

The one place this knowledge lives: `presets` makes a preset of each cell,
`report` puts the paper's number beside a run of one.
"""

import dataclasses
from typing import Dict, Optional, Tuple

from r_lstm import registry

# --dataset name -> (the paper's column name, sequence length).
DATASETS: Dict[str, Tuple[str, int]] = {
    'mnist': ('MNIST', 784), 'pmnist': ('pMNIST', 784),
    'cifar10': ('CIFAR10', 1024)}
# The paper's model names -> (--backbone, --auxiliary).
MODELS: Dict[str, Tuple[str, str]] = {
    'lstm': ('lstm', 'none'),
    'r_lstm': ('lstm', 'reconstruction'),
    'p_lstm': ('lstm', 'prediction'),
    'transformer': ('transformer', 'none'),
}
# (model, backpropagation) -> test accuracy (%) on MNIST, pMNIST, CIFAR10;
# 'full' backpropagation is through the whole sequence, '300' the last 300
# steps. The order of the rows is the paper's.
ACCURACY = {
    ('lstm', 'full'): (98.3, 89.4, 58.8),
    ('lstm', '300'): (11.3, 88.8, 49.0),
    ('r_lstm', '300'): (96.4, 92.8, 65.9),
    ('r_lstm', 'full'): (98.4, 95.2, 72.2),
    ('p_lstm', '300'): (95.4, 92.5, 64.7),
    ('transformer', 'full'): (98.9, 97.9, 62.2),
}
TRUNCATION = 300


@dataclasses.dataclass(frozen=True)
class Cell:
  dataset: str  # A key of DATASETS.
  model: str
  backprop: str  # 'full' or '300'.

  @property
  def accuracy(self) -> float:
    """The paper's test accuracy (%)."""
    return ACCURACY[(self.model, self.backprop)][
        list(DATASETS).index(self.dataset)]

  @property
  def column(self) -> str:
    return DATASETS[self.dataset][0]

  @property
  def length(self) -> int:
    return DATASETS[self.dataset][1]

  @property
  def bptt(self) -> int:
    return self.length if self.backprop == 'full' else TRUNCATION

  @property
  def backbone(self) -> str:
    return MODELS[self.model][0]

  @property
  def auxiliary(self) -> str:
    return MODELS[self.model][1]

  @property
  def preset(self) -> str:
    """Its preset's name, e.g. cifar10_r_lstm_t300; `_quick` is its twin.
    A backbone without truncation has no suffix."""
    if not registry.BACKBONES[self.backbone].recurrent:
      return f'{self.dataset}_{self.model}'
    suffix = 'full' if self.backprop == 'full' else f't{TRUNCATION}'
    return f'{self.dataset}_{self.model}_{suffix}'


# Every cell, dataset by dataset, in the paper's row order.
CELLS = tuple(Cell(dataset, model, backprop) for dataset in DATASETS
              for model, backprop in ACCURACY)


def model_name(backbone: str, auxiliary: str) -> Optional[str]:
  """The paper's name for a backbone with these objectives, or None."""
  for name, setting in MODELS.items():
    if setting == (backbone, auxiliary):
      return name
  return None
