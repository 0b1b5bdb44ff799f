r"""Writes docs/RESULTS.md and learning-curve plots from run directories.

  python -m r_lstm.report --runs=runs/mnist_lstm_k300,runs/mnist_r_lstm_k300 \
      --output=docs/RESULTS.md

Each run directory is what `r_lstm.train` leaves: `config.json` and
`metrics.jsonl` (its training rows give the speed, its evaluation rows the
curve, its host rows the machine). Our numbers are never typed by hand: the
table shows the paper's Table 2 number beside each run whose setting is one
of the paper's cells (native-size MNIST, pMNIST or CIFAR10; K = 300 or full
backpropagation), and "—" otherwise.
"""

import dataclasses
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

from absl import app
from absl import flags

from r_lstm import cli, configs, errors, reporting
from r_lstm import workdir as workdir_lib

flags.DEFINE_list('runs', None, 'Run directories to report, in table order.')
flags.DEFINE_string('output', 'docs/RESULTS.md', 'Markdown file to write.')
flags.DEFINE_string('title', 'Results', 'Heading of the report.')

FLAGS = flags.FLAGS

# Paper Table 2, test accuracy (%): (model, backpropagation) -> per dataset.
PAPER_DATASETS = ('MNIST', 'pMNIST', 'CIFAR10')
PAPER_TABLE_2 = {
    ('lstm', 'full'): (98.3, 89.4, 58.8),
    ('lstm', '300'): (11.3, 88.8, 49.0),
    ('r_lstm', '300'): (96.4, 92.8, 65.9),
    ('r_lstm', 'full'): (98.4, 95.2, 72.2),
    ('p_lstm', '300'): (95.4, 92.5, 64.7),
    ('transformer', 'full'): (98.9, 97.9, 62.2),
}
PAPER_LENGTHS = {'MNIST': 784, 'pMNIST': 784, 'CIFAR10': 1024}


@dataclasses.dataclass
class Run:
  name: str
  config: configs.Config
  curve: Dict[int, float]  # update -> evaluation accuracy
  eval_split: str
  updates: int
  train_seconds: float  # Sum of logged training intervals (no evaluation).
  host: str


def paper_dataset(config: configs.Config) -> Optional[str]:
  """Which column of the paper's Table 2 the run's data is, if any."""
  if config.image_size is not None or config.grayscale:
    return None
  name = config.dataset
  if name == 'pmnist':
    return 'pMNIST'
  if name == 'mnist' or (name.startswith('npz:') and os.path.basename(
      name[len('npz:'):]).startswith('mnist')):
    return 'MNIST'
  if name == 'cifar10':
    return 'CIFAR10'
  return None


def paper_cell(config: configs.Config) -> Optional[Tuple[str, str, str]]:
  """(dataset, model, backpropagation) of the paper's Table 2 that the
  run's setting is, or None."""
  dataset = paper_dataset(config)
  if dataset is None:
    return None
  if config.model == 'transformer':
    backprop = 'full'
  elif config.bptt >= PAPER_LENGTHS[dataset]:
    backprop = 'full'
  elif config.bptt == 300:
    backprop = '300'
  else:
    return None
  if (config.model, backprop) not in PAPER_TABLE_2:
    return None
  return dataset, config.model, backprop


def paper_number(dataset: str, model: str, backprop: str) -> float:
  """The paper's Table 2 test accuracy (%) of a cell."""
  return PAPER_TABLE_2[(model, backprop)][PAPER_DATASETS.index(dataset)]


def paper_accuracy(config: configs.Config) -> Optional[float]:
  """The paper's Table 2 number for the run's setting, or None."""
  cell = paper_cell(config)
  return None if cell is None else paper_number(*cell)


def quick_preset(dataset: str, model: str, backprop: str) -> str:
  """The quick preset of a Table 2 cell, e.g. cifar10_r_lstm_t300_quick."""
  name = f'{dataset.lower()}_{model}'
  if model != 'transformer':
    name += '_t300' if backprop == '300' else '_full'
  return name + '_quick'


def cells_not_run(runs: Sequence[Run]) -> List[Tuple[str, str, str]]:
  """Table 2 cells that none of `runs` is, in the paper's order."""
  done = {paper_cell(run.config) for run in runs}
  return [(dataset, model, backprop)
          for dataset in PAPER_DATASETS
          for model, backprop in PAPER_TABLE_2
          if (dataset, model, backprop) not in done]


def load_run(workdir: str) -> Run:
  config_path = os.path.join(workdir, 'config.json')
  metrics_path = os.path.join(workdir, reporting.METRICS_FILE)
  for path in (config_path, metrics_path):
    if not os.path.isfile(path):
      raise errors.UsageError(f'{workdir} is not a run directory: {path} '
                               'is missing')
  with open(config_path) as f:
    config = configs.Config.from_json(f.read(), source=config_path)
  rows = []
  with open(metrics_path) as f:
    for number, line in enumerate(f, 1):
      try:
        rows.append(json.loads(line))
      except ValueError:
        raise errors.UsageError(f'{metrics_path}, line {number}: not a JSON '
                                 'metrics row') from None
  curve, split, seconds, previous, host = {}, '', 0.0, None, 'unknown'
  for row in rows:
    if row['split'] == 'train':
      start = previous if previous is not None else 0
      if row.get('steps_per_sec') and previous is not None:
        seconds += (row['step'] - start) / row['steps_per_sec']
      previous = row['step']
    elif row['split'] == reporting.HOST_SPLIT:
      host = row['description']
      previous = None  # A restart: its first interval includes compilation.
    elif 'accuracy' in row:
      curve[row['step']] = row['accuracy']
      split = row['split']
  return Run(os.path.basename(os.path.normpath(workdir)), config, curve, split,
             max([r['step'] for r in rows], default=0), seconds, host)


def render(runs: Sequence[Run], title: str, plot_name: str) -> str:
  lines = [f'# {title}', '',
           'Generated by `python -m r_lstm.report` from the run directories; '
           'edit the runs, not this file.', '',
           '| run | dataset | model | K | paper (%) | ours (%) | split | '
           'updates | training time | hardware | seed |',
           '|---|---|---|---|---|---|---|---|---|---|---|']
  for run in runs:
    paper = paper_accuracy(run.config)
    final = run.curve[max(run.curve)] if run.curve else None
    bptt = 'all' if run.config.model == 'transformer' else run.config.bptt
    lines.append(
        f'| {run.name} | {run.config.dataset} | {run.config.model} | {bptt} | '
        f'{"—" if paper is None else f"{paper:.1f}"} | '
        f'{"—" if final is None else f"{100 * final:.2f}"} | '
        f'{run.eval_split or "—"} | {run.updates} | '
        f'{run.train_seconds / 60:.1f} min | {run.host} | {run.config.seed} |')
  lines += ['', f'![learning curves]({plot_name})', '',
            '"paper" is Table 2 of Trinh et al. (2018), after far longer '
            'training; "ours" is the accuracy of the last evaluation; '
            'training time excludes evaluation and each restart\'s first '
            '(compiling) interval.', '']
  missing = cells_not_run(runs)
  if missing:
    lines += ['## Not run', '',
              'Cells of the paper\'s Table 2 with no run in this report, and '
              'the command that runs each at the quick budget (TFDS data '
              'must be prepared in `--data_dir`; see README, Datasets).', '',
              '| dataset | model | K | paper (%) | command |',
              '|---|---|---|---|---|']
    for dataset, model, backprop in missing:
      preset = quick_preset(dataset, model, backprop)
      lines.append(
          f'| {dataset} | {model} | {backprop} | '
          f'{paper_number(dataset, model, backprop):.1f} | '
          f'`python -m r_lstm.train --preset={preset} --data_dir=<TFDS dir> '
          f'--workdir=runs/{preset}` |')
    lines.append('')
  return '\n'.join(lines)


def plot(runs: Sequence[Run], path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  figure, axes = pyplot.subplots(figsize=(7, 4))
  for run in runs:
    steps = sorted(run.curve)
    axes.plot(steps, [100 * run.curve[s] for s in steps], marker='o',
              label=run.name)
  axes.set_xlabel('updates')
  axes.set_ylabel('evaluation accuracy (%)')
  axes.grid(alpha=0.3)
  axes.legend()
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  pyplot.close(figure)


def write_report(workdirs: Sequence[str], output: str,
                 title: str = 'Results') -> List[Run]:
  """Writes `output` and `<output stem>_curves.png` beside it."""
  if not workdirs:
    raise errors.UsageError('--runs is required: run directories to report')
  runs = [load_run(w) for w in workdirs]
  plot_path = os.path.splitext(output)[0] + '_curves.png'
  for path in (output, plot_path):
    workdir_lib.check_output_file(path, 'output')
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  plot(runs, plot_path)
  workdir_lib.write_atomically(output,
                               render(runs, title, os.path.basename(plot_path)))
  return runs


@cli.usage_errors_exit('r_lstm.report')
def main(argv):
  if len(argv) > 1:
    raise errors.UsageError(f'unexpected arguments {argv[1:]}')
  runs = write_report(FLAGS.runs or [], FLAGS.output, FLAGS.title)
  print(f'Wrote {FLAGS.output} ({len(runs)} runs)')


if __name__ == '__main__':
  app.run(main)
