r"""Mean +- standard deviation over seeds, from the runs' own metrics.

  # Aggregate runs that already exist (any number of workdirs of one
  # variant), writing <output>.md and <output>.png:
  python -m experiments.multiseed --output=runs/init/r_lstm_k300_torch/summary \
      runs/init/r_lstm_k300_torch/seed_*
  # Every variant under a root (<root>/<variant>/seed_<N>): one comparison
  # table (with the training accuracy logged between its last two
  # evaluations), one table each and one plot with a band per variant
  # (--root may repeat; --seeds keeps only those seeds, --variants only
  # those variants, in that order):
  python -m experiments.multiseed --root=runs/init --output=docs/initialization

`experiments.mnist --seeds=0,1,2` trains every seed and then calls
`write_summary` itself. Single curves on truncated pixel MNIST swing by
+-0.15 between seeds, so a claim about learning is a mean over seeds with
its spread, and the band in the plot is that spread.
"""

import functools
import math
import os
import statistics
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from r_lstm import summaries


def read_metrics(workdir: str) -> List[dict]:
  """The run's metrics rows; a torn last line (a run killed, or still
  writing, while this reads) is left out. Every table, cell and curve asks
  for them, so each file is read once until it changes."""
  path = os.path.join(workdir, summaries.METRICS_FILE)
  try:
    stat = os.stat(path)
  except FileNotFoundError:
    return []
  return list(_metric_rows(path, stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=256)
def _metric_rows(path: str, modified_ns: int, size: int) -> Tuple[dict, ...]:
  """The rows of `path` as it was at (`modified_ns`, `size`): a metrics file
  only grows, so a new row changes the key and is read."""
  del modified_ns, size  # The cache key only.
  rows, _ = summaries.read_metric_rows(path)
  return tuple(rows)


def eval_curve(workdir: str, splits: Sequence[str] = ('test', 'validation')
               ) -> Dict[int, float]:
  """{update: evaluation accuracy} of one run, from the rows of `splits`
  (by default its test or validation split, whichever it evaluated)."""
  return {row['step']: row['accuracy'] for row in read_metrics(workdir)
          if row.get('split') in splits and 'accuracy' in row}


def seconds_per_update(workdir: str) -> float:
  """Median over logged training intervals, the first (tracing) left out."""
  rates = [row['steps_per_sec'] for row in read_metrics(workdir)
           if row.get('split') == 'train' and row.get('steps_per_sec')]
  rates = rates[1:] or rates
  return statistics.median(1 / rate for rate in rates) if rates else math.nan


def train_accuracy(workdir: str, after: int, upto: int) -> Optional[float]:
  """Mean of the training accuracy the run logged for updates `after` <
  update <= `upto` (each logged value is the mean over its interval's
  batches), or None if it logged none there. Beside the evaluation it
  tells under-fitting (both low) from over-fitting (train far above)."""
  values = [row['accuracy'] for row in read_metrics(workdir)
            if row.get('split') == 'train' and 'accuracy' in row
            and after < row['step'] <= upto]
  return statistics.fmean(values) if values else None


def over_seeds(values: Sequence[float]) -> dict:
  """{'mean', 'sd', 'n', 'values'} (sd is the sample standard deviation;
  0 for one run)."""
  return dict(mean=statistics.fmean(values),
              sd=statistics.stdev(values) if len(values) > 1 else 0.0,
              n=len(values), values=list(values))


def aggregate(workdirs: Sequence[str]) -> Dict[int, dict]:
  """{update: over_seeds(...)} over the runs that reached that update."""
  curves = [eval_curve(w) for w in workdirs]
  steps = sorted({step for curve in curves for step in curve})
  return {step: over_seeds([curve[step] for curve in curves if step in curve])
          for step in steps}


def spread(row: dict, digits: int) -> str:
  """'mean ± sd', or for a single run its value alone (one run has no
  spread to show)."""
  if row['n'] == 1:
    return f"{row['mean']:.{digits}f}"
  return f"{row['mean']:.{digits}f} ± {row['sd']:.{digits}f}"


def markdown(name: str, workdirs: Sequence[str]) -> str:
  """A table: each evaluation point's mean +- sd (n runs), every seed's
  value, and each run's seconds per update."""
  table = aggregate(workdirs)
  lines = [f'### {name}', '',
           '| update | mean ± sd | n | ' + ' | '.join(
               os.path.basename(os.path.normpath(w)) for w in workdirs)
           + ' |',
           '|---' * (3 + len(workdirs)) + '|']
  curves = [eval_curve(w) for w in workdirs]
  for step, row in table.items():
    cells = [f'{c[step]:.4f}' if step in c else '' for c in curves]
    lines.append(f"| {step} | {spread(row, 4)} | {row['n']} | "
                 + ' | '.join(cells) + ' |')
  speeds = [f'{seconds_per_update(w):.3f}' for w in workdirs]
  lines.append('| s/update | | | ' + ' | '.join(speeds) + ' |')
  return '\n'.join(lines) + '\n'


def with_values(row: dict) -> str:
  """'mean ± sd (each seed's value)', or a single run's value alone."""
  if row['n'] == 1:
    return spread(row, 3)
  return (f'{spread(row, 3)} ('
          + ' / '.join(f'{v:.4f}' for v in row['values']) + ')')


def train_cell(workdirs: Sequence[str], after: int, upto: int) -> str:
  """The training accuracy of `train_accuracy` over the seeds, saying how
  many seeds it covers when some logged none in the window."""
  train = [a for a in (train_accuracy(w, after, upto) for w in workdirs)
           if a is not None]
  if not train:
    return ''
  cell = with_values(over_seeds(train))
  if len(train) < len(workdirs):
    cell += f' ({len(train)} of {len(workdirs)} seeds logged it)'
  return cell


def comparison(variants: Dict[str, Sequence[str]]) -> str:
  """One row per variant: mean +- sd at each update that every variant
  reached, each seed's value in brackets (in the order of its workdirs),
  and the training accuracy logged between the last two of those
  updates."""
  tables = {name: aggregate(workdirs) for name, workdirs in variants.items()}
  steps = sorted(set.intersection(*(set(t) for t in tables.values()))
                 if tables else ())
  last = steps[-1] if steps else 0
  previous = steps[-2] if len(steps) > 1 else 0
  train_column = [f'train acc., updates {previous + 1}-{last}'] if steps else []
  lines = ['| variant | seeds | ' + ' | '.join(
      [f'@{s}' for s in steps] + train_column) + ' |',
           '|---' * (2 + len(steps) + len(train_column)) + '|']
  for name, table in tables.items():
    seeds = ', '.join(os.path.basename(os.path.normpath(w))[len('seed_'):]
                      for w in variants[name])
    cells = [with_values(table[s]) for s in steps]
    if train_column:
      cells.append(train_cell(variants[name], previous, last))
    lines.append(f'| {name} | {seeds} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def plot(named_workdirs: Dict[str, Sequence[str]], path: str) -> None:
  """Mean curve of each variant with a +-1 sd band, one colour each; the
  accuracy axis spans the curves (on CIFAR-10 they lie within 0.15-0.25,
  which a 0-1 axis would flatten)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  figure, axes = plt.subplots(figsize=(7, 4.5))
  for name, workdirs in named_workdirs.items():
    table = aggregate(workdirs)
    steps = list(table)
    means = [table[s]['mean'] for s in steps]
    sds = [table[s]['sd'] for s in steps]
    n = max((table[s]['n'] for s in steps), default=0)
    line, = axes.plot(steps, means, marker='o', label=f'{name} (n={n})')
    axes.fill_between(steps, [m - d for m, d in zip(means, sds)],
                      [m + d for m, d in zip(means, sds)],
                      color=line.get_color(), alpha=0.2)
  axes.set_xlabel('update')
  axes.set_ylabel('evaluation accuracy (mean ± sd over seeds)')
  axes.grid(alpha=0.3)
  axes.legend(fontsize=8)
  figure.tight_layout()
  figure.savefig(path, dpi=120)
  plt.close(figure)


def write_summary(workdirs: Sequence[str], output: str, name: str) -> str:
  """Writes <output>.md (the table) and <output>.png (the band plot) and
  returns the table; `output` may be a directory (files summary.*)."""
  if os.path.isdir(output):
    output = os.path.join(output, 'summary')
  text = markdown(name, workdirs)
  with open(f'{output}.md', 'w') as f:
    f.write(text)
  plot({name: workdirs}, f'{output}.png')
  return text


def variants_under(root: str, seeds: Optional[Sequence[int]] = None
                   ) -> Dict[str, List[str]]:
  """{variant: its seed workdirs} for <root>/<variant>/seed_<N>/ runs
  (only the seeds in `seeds`, when given)."""
  found = {}
  for variant in sorted(os.listdir(root)):
    if not os.path.isdir(os.path.join(root, variant)):
      continue
    runs = sorted(
        (os.path.join(root, variant, d)
         for d in os.listdir(os.path.join(root, variant))
         if d.startswith('seed_') and os.path.exists(
             os.path.join(root, variant, d, summaries.METRICS_FILE))),
        key=lambda w: int(w.rsplit('_', 1)[1]))
    if seeds is not None:
      runs = [w for w in runs if int(w.rsplit('_', 1)[1]) in seeds]
    if runs:
      found[variant] = runs
  return found


def write_experiment(roots: Sequence[str], output: str, title: str,
                     seeds: Optional[Sequence[int]] = None,
                     names: Optional[Sequence[str]] = None) -> str:
  """Writes <output>.md (the comparison of every variant under `roots`, or
  of `names` in their order, then a table per variant) and <output>.png
  (their bands); returns the Markdown."""
  variants = {}
  for root in roots:
    variants.update(variants_under(root, seeds))
  if names is not None:
    missing = sorted(set(names) - set(variants))
    if missing:
      raise ValueError(f'no runs of {missing} under {", ".join(roots)}')
    variants = {name: variants[name] for name in names}
  text = f'## {title}\n\n' + comparison(variants) + '\n' + '\n'.join(
      markdown(name, workdirs) for name, workdirs in variants.items())
  with open(f'{output}.md', 'w') as f:
    f.write(text)
  plot(variants, f'{output}.png')
  return text


def main(argv: Sequence[str]) -> int:
  """`--output=PREFIX [--name=NAME] WORKDIR...` or `--root=DIR
  [--root=DIR...] [--seeds=0,1] [--variants=A,B] --output=PREFIX
  [--name=TITLE]`."""
  output, name, roots, seeds, names, workdirs = None, None, [], None, None, []
  for arg in argv:
    if arg.startswith('--output='):
      output = arg.split('=', 1)[1]
    elif arg.startswith('--name='):
      name = arg.split('=', 1)[1]
    elif arg.startswith('--root='):
      roots.append(arg.split('=', 1)[1])
    elif arg.startswith('--seeds='):
      seeds = [int(seed) for seed in arg.split('=', 1)[1].split(',')]
    elif arg.startswith('--variants='):
      names = arg.split('=', 1)[1].split(',')
    else:
      workdirs.append(arg)
  if roots and output and all(os.path.isdir(root) for root in roots):
    try:
      print(write_experiment(roots, output, name or os.path.basename(
          os.path.normpath(roots[0])), seeds, names))
    except ValueError as error:
      print(error, file=sys.stderr)
      return 2
    return 0
  missing = [w for w in workdirs
             if not os.path.exists(os.path.join(w, summaries.METRICS_FILE))]
  if not output or not workdirs or missing:
    print('usage: python -m experiments.multiseed --output=PREFIX '
          '[--name=NAME] WORKDIR...' + (f'\nno metrics in {missing}'
                                        if missing else ''), file=sys.stderr)
    return 2
  name = name or os.path.basename(os.path.normpath(
      os.path.dirname(os.path.normpath(workdirs[0]))))
  print(write_summary(workdirs, output, name))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
