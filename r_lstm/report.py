r"""Writes docs/RESULTS.md and learning-curve plots from run directories.

  python -m r_lstm.report --runs=runs/mnist_lstm_k300,runs/mnist_r_lstm_k300 \
      --output=docs/RESULTS.md

Each run directory is what `r_lstm.train` leaves: `config.json` and
`metrics.jsonl` (its training rows give the speed, its evaluation rows the
curve, its host rows the machine). Our numbers are never typed by hand: the
table shows the paper's Table 2 number beside each run whose setting is one
of the paper's cells (native-size MNIST, pMNIST or CIFAR10; K = 300 or full
backpropagation; the paper's model sizes), and "—" otherwise.
"""

import dataclasses
import io
import os
import sys
from typing import Dict, List, Optional, Sequence

from absl import flags

from r_lstm import cli
from r_lstm import quiet_tensorflow  # pylint: disable=unused-import
# pylint: disable=g-bad-import-order
from r_lstm import configs, errors, files, paper, presets, summaries
from r_lstm import workdir as workdir_lib

flags.DEFINE_list('runs', None, 'Run directories to report, in table order.')
flags.DEFINE_string('output', 'docs/RESULTS.md', 'Markdown file to write.')
flags.DEFINE_string('title', 'Results', 'Heading of the report.')

FLAGS = flags.FLAGS

# Model sizes a run must have to stand beside the paper's number: the
# `Config` defaults are the paper's (the decoder's only for the r/p-LSTM).
PAPER_SIZES = ('embed_dim', 'lstm_units', 'head_units')
PAPER_DECODER_SIZES = ('decoder_units', 'decoder_layers', 'decoder_head_units')


@dataclasses.dataclass
class Run:
  name: str
  config: configs.Config
  curve: Dict[int, float]  # update -> evaluation accuracy
  eval_split: str
  updates: int
  train_seconds: float  # Sum of logged training intervals (no evaluation).
  host: str
  metrics_path: str = ''
  # Lines of the metrics file that are not metrics rows, left out.
  skipped_lines: Sequence[int] = ()


def paper_dataset(config: configs.Config) -> Optional[str]:
  """Which dataset of the paper's Table 2 (a `paper.DATASETS` key) the run's
  data is, if any."""
  if config.image_size is not None or config.grayscale:
    return None
  name = config.dataset
  if name in paper.DATASETS:
    return name
  if name.startswith('npz:') and os.path.basename(
      name[len('npz:'):]).startswith('mnist'):
    return 'mnist'
  return None


def paper_cell(config: configs.Config) -> Optional[paper.Cell]:
  """The cell of the paper's Table 2 that the run's setting is, or None."""
  dataset = paper_dataset(config)
  model = paper.model_name(config.backbone, config.auxiliary)
  if dataset is None or model is None:
    return None
  recurrent = config.backbone_entry.recurrent
  if not recurrent or config.bptt >= paper.DATASETS[dataset][1]:
    backprop = 'full'
  elif config.bptt == paper.TRUNCATION:
    backprop = str(paper.TRUNCATION)
  else:
    return None
  if (model, backprop) not in paper.ACCURACY:
    return None
  sizes = PAPER_SIZES + (PAPER_DECODER_SIZES if config.objectives else ())
  defaults = configs.Config()
  if recurrent and any(
      getattr(config, name) != getattr(defaults, name) for name in sizes):
    return None
  paper_length = presets.PAPER_AUXILIARY['aux_length']
  if config.objectives and config.aux_length != paper_length:
    return None
  return paper.Cell(dataset, model, backprop)


def model_label(config: configs.Config) -> str:
  """The paper's name of the run's model (r_lstm), else its backbone and
  objectives."""
  return (paper.model_name(config.backbone, config.auxiliary)
          or f'{config.backbone} + {config.auxiliary}')


def paper_accuracy(config: configs.Config) -> Optional[float]:
  """The paper's Table 2 number for the run's setting, or None."""
  cell = paper_cell(config)
  return None if cell is None else cell.accuracy


def cells_not_run(runs: Sequence[Run]) -> List[paper.Cell]:
  """Table 2 cells that none of `runs` is, in the paper's order."""
  done = {paper_cell(run.config) for run in runs}
  return [cell for cell in paper.CELLS if cell not in done]


def read_run(workdir: str) -> Run:
  """The records a run of `r_lstm.train` left in `workdir` (reads only)."""
  config_path = os.path.join(workdir, workdir_lib.CONFIG_FILE)
  metrics_path = os.path.join(workdir, summaries.METRICS_FILE)
  for path in (config_path, metrics_path):
    if not files.isfile(path):
      raise errors.UsageError(f'{workdir} is not a run directory: {path} '
                               'is missing')
  config = configs.Config.from_json(files.read_text(config_path),
                                    source=config_path)
  rows, skipped = summaries.read_metric_rows(metrics_path)
  curve, split, seconds, previous, host = {}, '', 0.0, None, 'unknown'
  for row in rows:
    if row['split'] == 'train':
      start = previous if previous is not None else 0
      rate = row.get('steps_per_sec')
      if isinstance(rate, (int, float)) and rate > 0 and previous is not None:
        seconds += (row['step'] - start) / rate
      previous = row['step']
    elif row['split'] == summaries.HOST_SPLIT:
      host = row.get('description', host)
      previous = None  # A restart: its first interval includes compilation.
    elif isinstance(row.get('accuracy'), (int, float)):
      curve[row['step']] = row['accuracy']
      split = row['split']
  return Run(os.path.basename(os.path.normpath(workdir)), config, curve, split,
             max([r['step'] for r in rows], default=0), seconds, host,
             metrics_path, skipped)


def initialization_label(config: configs.Config) -> str:
  """The run's `--init`, and any part set apart from it."""
  others = [f'{field[len("init_"):]} {getattr(config, field)}'
            for field in configs.INIT_PART_FIELDS
            if getattr(config, field) not in (None, config.init)]
  return config.init + (f' ({", ".join(others)})' if others else '')


def render(runs: Sequence[Run], title: str, plot_name: str) -> str:
  lines = [f'# {title}', '',
           'Generated by `python -m r_lstm.report` from the run directories; '
           'edit the runs, not this file.', '',
           '| run | dataset | model | K | paper (%) | ours (%) | split | '
           'updates | training time | hardware | seed | init |',
           '|---|---|---|---|---|---|---|---|---|---|---|---|']
  for run in runs:
    paper = paper_accuracy(run.config)
    final = run.curve[max(run.curve)] if run.curve else None
    bptt = (run.config.bptt if run.config.backbone_entry.recurrent
            else 'all')
    lines.append(
        f'| {run.name} | {run.config.dataset} | {model_label(run.config)} | '
        f'{bptt} | '
        f'{"—" if paper is None else f"{paper:.1f}"} | '
        f'{"—" if final is None else f"{100 * final:.2f}"} | '
        f'{run.eval_split or "—"} | {run.updates} | '
        f'{run.train_seconds / 60:.1f} min | {run.host} | {run.config.seed} | '
        f'{initialization_label(run.config)} |')
  lines += ['', f'![learning curves]({plot_name})', '',
            '"paper" is Table 2 of Trinh et al. (2018), shown only beside a '
            'run of that cell: the same dataset at its native size, K, model '
            'sizes and (r/p-LSTM) l = 600; the paper trained far longer than '
            'the "updates" column. "ours" is the accuracy of the last '
            'evaluation; training time excludes evaluation and each '
            'restart\'s first (compiling) interval.', '']
  missing = cells_not_run(runs)
  if missing:
    lines += ['## Not run', '',
              'Cells of the paper\'s Table 2 with no run in this report, and '
              'the command that runs each in the paper\'s setting (TFDS data '
              'must be prepared in `--data_dir`; see README, Datasets). Its '
              '`_quick` twin runs 1,500 updates of batch 32, with l = 200 for '
              'the r- and p-LSTM, so those rows get no paper number.', '',
              '| dataset | model | K | paper (%) | command |',
              '|---|---|---|---|---|']
    for cell in missing:
      preset = cell.preset
      lines.append(
          f'| {cell.column} | {cell.model} | {cell.backprop} | '
          f'{cell.accuracy:.1f} | '
          f'`python -m r_lstm.train --preset={preset} --data_dir=<TFDS dir> '
          f'--workdir=runs/{preset}` |')
    lines.append('')
  return '\n'.join(lines)


def plot(runs: Sequence[Run], path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  figure, axes = pyplot.subplots(figsize=(7, 4))
  splits = {run.eval_split for run in runs if run.curve}
  one_split = splits.pop() if len(splits) == 1 else None
  # A colour of its own for each run (the default cycle repeats after 10).
  colours = matplotlib.colormaps['tab20' if len(runs) > 10 else 'tab10']
  for index, run in enumerate(runs):
    steps = sorted(run.curve)
    label = run.name if one_split else f'{run.name} ({run.eval_split})'
    [line] = axes.plot(steps, [100 * run.curve[s] for s in steps],
                       marker='o', label=label, color=colours(index % 20))
    paper = paper_accuracy(run.config)
    if paper is not None:
      axes.axhline(paper, color=line.get_color(), linestyle='--',
                   linewidth=1, label=f'{run.name}: paper {paper:.1f}')
  axes.set_xlabel('updates')
  axes.set_ylabel(f'{one_split or "evaluation"} accuracy (%)')
  axes.grid(alpha=0.3)
  axes.legend()
  figure.tight_layout()
  image = io.BytesIO()
  figure.savefig(image, format='png', dpi=100)
  pyplot.close(figure)
  files.write_atomically(path, image.getvalue())


def write_report(workdirs: Sequence[str], output: str,
                 title: str = 'Results') -> List[Run]:
  """Writes `output` and `<output stem>_curves.png` beside it."""
  if not workdirs:
    raise errors.UsageError('--runs is required: run directories to report')
  runs = [read_run(w) for w in workdirs]
  plot_path = os.path.splitext(output)[0] + '_curves.png'
  for path in (output, plot_path):
    workdir_lib.check_output_file(path, 'output')
  files.makedirs(files.parent(output))
  plot(runs, plot_path)
  files.write_atomically(output,
                         render(runs, title, os.path.basename(plot_path)))
  return runs


@cli.usage_errors_exit('r_lstm.report')
def main(argv):
  if len(argv) > 1:
    raise errors.UsageError(f'unexpected arguments {argv[1:]}')
  runs = write_report(FLAGS.runs or [], FLAGS.output, FLAGS.title)
  for run in runs:
    if run.skipped_lines:
      lines = ', '.join(str(n) for n in run.skipped_lines)
      print(f'r_lstm.report: warning: {run.metrics_path}: left out line(s) '
            f'{lines}, not metrics rows', file=sys.stderr)
  print(f'Wrote {FLAGS.output} ({len(runs)} runs)')


if __name__ == '__main__':
  cli.run(main)
