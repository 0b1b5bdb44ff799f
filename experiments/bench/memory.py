r"""Peak memory of one training update against sequence length.

  python -m experiments.bench.memory --output=docs/bench/memory.json

For r-LSTM T300 (l=600, decoder 2 x 256) and LSTM full BP, batch 16, at
each --lengths: a fresh Python process builds the Trainer on random pixels,
runs one update (tracing and graph optimisation happen here), resets the
kernel's peak-RSS mark (/proc/self/clear_refs) and runs --updates more.
Reported: the process peak over everything, the peak before the first
update (imports, data, model), and the peak during the later updates alone
(`steady_peak_mb`: what training at that length needs). Truncated training should need the same
memory at every length (only the gradient-free pass sees the whole
sequence, and it keeps nothing per step); full backpropagation keeps every
step's activations.
"""

import json
import os
import resource
import subprocess
import sys
import time

from absl import app
from absl import flags

from experiments.bench import common

flags.DEFINE_list('variants', ['r_lstm_t300', 'lstm_full'],
                  'Variants to measure.')
flags.DEFINE_list('lengths', ['784', '4096', '16384'], 'Sequence lengths.')
flags.DEFINE_integer('batch_size', 16, 'Batch size.')
flags.DEFINE_integer('updates', 2, 'Updates measured after the first.')
flags.DEFINE_string('output', 'docs/bench/memory.json', 'JSON results.')
flags.DEFINE_string('child', None, 'Internal: variant,length to run here.')

FLAGS = flags.FLAGS


def peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def high_water_mb() -> float:
  """VmHWM: peak RSS since the last `reset_high_water`."""
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith('VmHWM:'):
        return int(line.split()[1]) / 1024
  raise OSError('no VmHWM in /proc/self/status')


def reset_high_water() -> None:
  with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')


def run_child(variant: str, length: int) -> None:
  """Runs the updates in this process; prints one JSON line."""
  from r_lstm import trainer as trainer_lib
  data = common.synthetic_data(2 * FLAGS.batch_size, length)
  config = common.config(variant, FLAGS.batch_size)
  trainer = trainer_lib.Trainer(config, data)
  iterator = trainer.train_iterator()
  before = peak_rss_mb()
  trainer.train(iterator, 1)
  reset_high_water()
  start = time.perf_counter()
  trainer.train(iterator, FLAGS.updates)
  seconds = (time.perf_counter() - start) / FLAGS.updates
  steady = high_water_mb()
  print(json.dumps({'variant': variant, 'length': length,
                    'batch': FLAGS.batch_size,
                    'peak_before_update_mb': before,
                    'peak_mb': peak_rss_mb(), 'steady_peak_mb': steady,
                    'seconds_per_update': seconds}))


def main(argv):
  del argv
  if FLAGS.child:
    variant, length = FLAGS.child.split(',')
    run_child(variant, int(length))
    return
  rows = []
  for variant in FLAGS.variants:
    for length in FLAGS.lengths:
      result = subprocess.run(
          [sys.executable, '-m', 'experiments.bench.memory',
           f'--child={variant},{length}', f'--batch_size={FLAGS.batch_size}',
           f'--updates={FLAGS.updates}'],
          capture_output=True, text=True, check=True,
          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
      row = json.loads(result.stdout.strip().splitlines()[-1])
      print(row, flush=True)
      rows.append(row)
  for row in rows:
    first = next(r for r in rows if r['variant'] == row['variant'])
    row['steady_over_shortest'] = (row['steady_peak_mb']
                                   / first['steady_peak_mb'])
  common.report(FLAGS.output, rows, [
      'variant', 'length', 'batch', 'steady_peak_mb', 'steady_over_shortest',
      'peak_mb', 'peak_before_update_mb', 'seconds_per_update'])


if __name__ == '__main__':
  app.run(main)
