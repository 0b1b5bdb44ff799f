"""What the benchmark scripts share: the benchmarked settings, synthetic
pixel data, timing and the JSON/Markdown output."""

import json
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Sequence

import numpy as np

from r_lstm import configs, input_pipeline, summaries

# The benchmarked updates (issue 6): the paper's sizes on pixel MNIST.
VARIANTS = {
    'lstm_t300': dict(auxiliary='none', bptt=300),
    'lstm_full': dict(auxiliary='none', bptt=100_000),
    'r_lstm_t300': dict(auxiliary='reconstruction', bptt=300, aux_length=600,
                        aux_bptt=300, decoder_units=256, decoder_layers=2),
}


def config(variant: str, batch_size: int) -> configs.Config:
  """The benchmark config of a variant (paper sizes, Adam, clip 1; the head
  reads h, as torch_reference.py's does and the recorded numbers did)."""
  return configs.Config(batch_size=batch_size, head_input='h',
                        **VARIANTS[variant])


def synthetic_data(num_examples: int, length: int,
                   seed: int = 0) -> input_pipeline.SequenceData:
  """Random grey pixels (0..255) and 10 classes: speed does not depend on
  the values, and any length can be made."""
  rng = np.random.RandomState(seed)

  def split():
    return input_pipeline.Split(
        tokens=rng.randint(0, 256, (num_examples, length, 1)).astype(np.uint8),
        lengths=np.full([num_examples], length, np.int32),
        labels=rng.randint(0, 10, num_examples).astype(np.int32))

  return input_pipeline.SequenceData('synthetic', split(), split(), 'test',
                                     num_classes=10)


def median_seconds(run: Callable[[], object], repeats: int,
                   warmup: int) -> float:
  """Median wall seconds of `run()` over `repeats` calls after `warmup`."""
  for _ in range(warmup):
    run()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def round_robin_seconds(runs: Dict[str, Callable[[], object]],
                        rounds: int) -> Dict[str, List[float]]:
  """Wall seconds of each run's `rounds` calls, made in turn (a, b, a, b,
  ...), so that a drift in the machine's speed moves every run alike."""
  seconds = {name: [] for name in runs}
  for _ in range(rounds):
    for name, run in runs.items():
      start = time.perf_counter()
      run()
      seconds[name].append(time.perf_counter() - start)
  return seconds


def report(path: str, rows: List[Dict], columns: Sequence[str]) -> None:
  """Writes the rows, the machine and this command as JSON to `path` and
  prints `columns` of the rows as a Markdown table (floats to 4 figures)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    json.dump({'machine': summaries.machine_description(),
               'command': ' '.join(sys.argv), 'rows': rows}, f, indent=1)

  def cell(value):
    return f'{value:.4g}' if isinstance(value, float) else str(value)

  lines = ['| ' + ' | '.join(columns) + ' |',
           '|' + '---|' * len(columns)]
  lines += ['| ' + ' | '.join(cell(row.get(c, '')) for c in columns) + ' |'
            for row in rows]
  print('\n'.join(lines))
