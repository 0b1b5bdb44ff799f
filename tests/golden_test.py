"""Golden runs: two short deterministic runs whose metrics must not move.

A restructuring of the code must not change what existing settings compute.
`tests/golden/` holds the full `config.json` of an LSTM run, of an r-LSTM
run with two anchors, and of the same r-LSTM with the compiled step loops
(`--rnn_gradient=compiled`; the other two run TensorFlow's loops), every
field explicit so that a change of a default does not move them, and the
`metrics.jsonl` they wrote. The test reruns both and
compares every metric value exactly; only the machine's description and the
update rate, which depend on the host, are left out. The configs are also
old-format `config.json` files, so the test proves they still load.

Op-level float results can differ between CPU families (oneDNN chooses
kernels by instruction set). On the CPU the goldens were recorded on, values
must be bit-identical; on another, equal to 1e-5 relative, and the test says
which comparison it made.

To record them again (only for an intended change of numbers, explained in
the commit): `python tests/golden_test.py --record [RUN ...]` (every run
when none is named).
"""

import json
import os
import sys
import tempfile

import numpy as np
import tensorflow as tf

from r_lstm import configs, summaries, train_lib

GOLDEN_DIR = os.path.join(os.path.dirname(__file__), 'golden')
RUNS = ('lstm', 'r_lstm_two_anchors', 'r_lstm_compiled')
# Depend on the host, not on what was computed.
HOST_KEYS = ('steps_per_sec',)


def write_dataset(path: str) -> None:
  """96 sequences of 40 grey tokens; label: are the first five bright."""
  rng = np.random.RandomState(0)
  tokens = rng.randint(0, 256, size=(96, 40, 1)).astype(np.uint8)
  labels = (tokens[:, :5, 0].mean(axis=1) > 127).astype(np.int64)
  np.savez(path, x_train=tokens[:64], y_train=labels[:64],
           x_test=tokens[64:], y_test=labels[64:])


def golden_config(run: str, dataset_path: str) -> configs.Config:
  with open(os.path.join(GOLDEN_DIR, f'{run}.config.json')) as f:
    config = configs.Config.from_json(f.read())
  return config.replace(dataset=f'npz:{dataset_path}')


def computed_rows(metrics_path: str):
  """The metric rows, host rows and host-dependent values dropped."""
  with open(metrics_path) as f:
    rows = [json.loads(line) for line in f]
  return [{key: value for key, value in row.items() if key not in HOST_KEYS}
          for row in rows if row['split'] != summaries.HOST_SPLIT]


def host_of(metrics_path: str) -> str:
  with open(metrics_path) as f:
    for line in f:
      row = json.loads(line)
      if row['split'] == summaries.HOST_SPLIT:
        return row['description']
  return ''


def train(run: str, root: str) -> str:
  dataset = os.path.join(root, 'golden.npz')
  if not os.path.exists(dataset):
    write_dataset(dataset)
  workdir = os.path.join(root, run)
  train_lib.train_and_evaluate(golden_config(run, dataset), workdir)
  return os.path.join(workdir, summaries.METRICS_FILE)


class GoldenRunTest(tf.test.TestCase):

  def test_runs_compute_what_they_computed(self):
    root = self.create_tempdir().full_path
    for run in RUNS:
      with self.subTest(run=run):
        golden = os.path.join(GOLDEN_DIR, f'{run}.metrics.jsonl')
        metrics = train(run, root)
        expected, actual = computed_rows(golden), computed_rows(metrics)
        self.assertEqual([(r['step'], r['split']) for r in actual],
                         [(r['step'], r['split']) for r in expected])
        if host_of(metrics) == host_of(golden):
          self.assertEqual(actual, expected)  # Bit-identical floats.
        else:
          print(f'{run}: another CPU ({host_of(metrics)!r}, goldens from '
                f'{host_of(golden)!r}): comparing to 1e-5 relative')
          for got, want in zip(actual, expected):
            self.assertEqual(sorted(got), sorted(want))
            for key, value in want.items():
              if isinstance(value, float):
                self.assertAllClose(got[key], value, rtol=1e-5, atol=1e-7)
              else:
                self.assertEqual(got[key], value)


def record(runs=RUNS):
  """Writes the goldens of `runs` from their configs in GOLDEN_DIR."""
  with tempfile.TemporaryDirectory() as root:
    for run in runs:
      metrics = train(run, root)
      with open(metrics) as f, open(
          os.path.join(GOLDEN_DIR, f'{run}.metrics.jsonl'), 'w') as out:
        out.write(f.read())
      print(f'recorded {run}')


if __name__ == '__main__':
  if sys.argv[1:2] == ['--record']:
    record(sys.argv[2:] or RUNS)
  else:
    tf.test.main()
