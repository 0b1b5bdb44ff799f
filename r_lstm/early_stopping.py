"""Early stopping (`--early_stopping_patience`): training ends once that
many evaluations in a row have not improved on the best so far.

The decision is a function of the run's evaluation rows, the ones
`metrics.jsonl` already holds and the new ones, so a resumed run decides
exactly as an uninterrupted one, and a run that stopped early stays
stopped when its command is run again.
"""

import os
from typing import Dict, List, Optional, Tuple

from r_lstm import configs, summaries


class EarlyStopping:
  """Watches one evaluation metric of a run (`config.early_stopping_*`)."""

  def __init__(self, config: configs.Config,
               history: List[Tuple[int, float]] = ()):
    self.patience = config.early_stopping_patience
    self.metric = config.early_stopping_metric
    self._higher_is_better = configs.STOPPING_METRICS[self.metric]
    self._values: Dict[int, float] = dict(history)  # update -> value

  @classmethod
  def from_workdir(cls, config: configs.Config, workdir: str, split: str,
                   up_to: int) -> 'EarlyStopping':
    """With the evaluations of `split` the workdir logged up to update
    `up_to` (later rows belong to updates a resumed run redoes)."""
    history = {}
    if config.early_stopping_patience:
      rows, _ = summaries.read_metric_rows(
          os.path.join(workdir, summaries.METRICS_FILE))
      metric = config.early_stopping_metric
      for row in rows:
        if (row['split'] == split and row['step'] <= up_to
            and isinstance(row.get(metric), (int, float))):
          history[row['step']] = row[metric]
    return cls(config, history.items())

  def record(self, step: int, results: Dict[str, float]) -> None:
    """Adds the evaluation after update `step` (again: replaces it)."""
    self._values[step] = float(results[self.metric])

  def _best(self) -> Tuple[int, Tuple[int, float]]:
    """(index in update order, (step, value)) of the first best
    evaluation."""
    sign = -1 if self._higher_is_better else 1
    return min(enumerate(sorted(self._values.items())),
               key=lambda item: sign * item[1][1])

  @property
  def stopped(self) -> bool:
    if not self.patience or not self._values:
      return False
    index, _ = self._best()
    return len(self._values) - 1 - index >= self.patience

  def reason(self) -> Optional[str]:
    """Why training stopped, or None while it goes on."""
    if not self.stopped:
      return None
    _, (step, value) = self._best()
    return (f'stopped early: {self.metric} has not improved for '
            f'{self.patience} evaluations (best {value:.4f} after update '
            f'{step}; --early_stopping_patience)')
