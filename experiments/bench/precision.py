r"""Seconds per update under each dtype policy, timed in turn in one process.

  python -m experiments.bench.precision --output=docs/bench/precision.json

For each variant and batch size, one trainer per precision is built on the
same synthetic pixels; after warm-up updates (tracing), single updates run
round-robin (float32, bf16, float32, bf16, ...), so that a drift in the
machine's speed moves every precision alike, and the median per precision
and its ratio to float32 are reported.
"""

import functools
import statistics

from absl import app
from absl import flags

from experiments.bench import common
from r_lstm import configs
from r_lstm import trainer as trainer_lib

flags.DEFINE_list('variants', ['lstm_t300', 'r_lstm_t300'],
                  'Variants to time.')
flags.DEFINE_list('batch_sizes', ['32'], 'Batch sizes.')
flags.DEFINE_list('precisions', ['float32', 'mixed_bfloat16'],
                  f'Dtype policies, the first the yardstick; of '
                  f'{", ".join(configs.PRECISIONS)}.')
flags.DEFINE_integer('length', 784, 'Sequence length.')
flags.DEFINE_integer('rounds', 9, 'Timed updates per precision (median).')
flags.DEFINE_integer('warmup', 2, 'Untimed updates first (tracing).')
flags.DEFINE_string('output', 'docs/bench/precision.json', 'JSON results.')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  rows = []
  data = common.synthetic_data(256, FLAGS.length)
  for variant in FLAGS.variants:
    for batch_size in (int(b) for b in FLAGS.batch_sizes):
      runs = {}
      for precision in FLAGS.precisions:
        trainer = trainer_lib.Trainer(
            common.config(variant, batch_size).replace(precision=precision),
            data)
        iterator = trainer.train_iterator()
        trainer.train(iterator, FLAGS.warmup)
        runs[precision] = functools.partial(trainer.train, iterator, 1)
      timings = common.round_robin_seconds(runs, FLAGS.rounds)
      yardstick = statistics.median(timings[FLAGS.precisions[0]])
      for precision, seconds in timings.items():
        row = {'variant': variant, 'batch': batch_size,
               'precision': precision, 's_per_update': statistics.median(
                   seconds), 'min_s': min(seconds), 'max_s': max(seconds)}
        row['over_first'] = row['s_per_update'] / yardstick
        print(row, flush=True)
        rows.append(row)
  common.report(FLAGS.output, rows, ['variant', 'batch', 'precision',
                                     's_per_update', 'min_s', 'max_s',
                                     'over_first'])


if __name__ == '__main__':
  app.run(main)
