r"""Truncated vs full backpropagation for a plain LSTM on real pixel MNIST.

  python -m experiments.mnist_truncation \
      --npz=../shared/datasets/mnist.npz --train_steps=500

Trains one run per --bptt value (default 300 and 784 = full BPTT) with the
default preset otherwise, scores the full test split, and prints a Markdown
table (also written to <workdir_root>/summary.json).
"""

import json
import os
import statistics
import time

from absl import app
from absl import flags

from r_lstm import configs, reporting, train_lib

flags.DEFINE_string('npz', '../shared/datasets/mnist.npz',
                    'Keras-layout MNIST arrays.')
flags.DEFINE_string('workdir_root', 'runs/mnist_truncation',
                    'One workdir per run is made below this.')
flags.DEFINE_list('bptt_values', ['300', '784'], 'Truncation lengths K.')
flags.DEFINE_integer('train_steps', 500, 'Updates per run.')
flags.DEFINE_integer('batch_size', 64, 'Global batch size.')
flags.DEFINE_integer('seed', 0, 'Random seed.')

FLAGS = flags.FLAGS


def seconds_per_update(workdir):
  """Median over the logged training intervals, compilation excluded."""
  with open(os.path.join(workdir, reporting.METRICS_FILE)) as f:
    rates = [row['steps_per_sec'] for row in map(json.loads, f)
             if row['split'] == 'train']
  return statistics.median(1 / r for r in rates[1:])


def main(argv):
  del argv
  rows = []
  for bptt in map(int, FLAGS.bptt_values):
    config = configs.preset('default').replace(
        dataset=f'npz:{FLAGS.npz}', bptt=bptt, batch_size=FLAGS.batch_size,
        train_steps=FLAGS.train_steps, eval_every=FLAGS.train_steps,
        checkpoint_every=FLAGS.train_steps, steps_per_loop=25,
        seed=FLAGS.seed)
    workdir = os.path.join(FLAGS.workdir_root, f'bptt{bptt}')
    start = time.monotonic()
    results = train_lib.train_and_evaluate(config, workdir)
    rows.append({'bptt': bptt, 'test_accuracy': results['accuracy'],
                 'test_examples': results['examples'],
                 'seconds_per_update': seconds_per_update(workdir),
                 'wall_seconds': time.monotonic() - start,
                 'train_steps': FLAGS.train_steps,
                 'batch_size': FLAGS.batch_size})
  with open(os.path.join(FLAGS.workdir_root, 'summary.json'), 'w') as f:
    json.dump(rows, f, indent=2)
  print('| K | test accuracy | s/update | wall time (s) |')
  print('|---|---|---|---|')
  for row in rows:
    print(f"| {row['bptt']} | {row['test_accuracy']:.4f} | "
          f"{row['seconds_per_update']:.3f} | {row['wall_seconds']:.0f} |")


if __name__ == '__main__':
  app.run(main)
