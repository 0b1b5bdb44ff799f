r"""Scores a dataset split with a trained run or an export.

  python -m r_lstm.predict --model=runs/demo --output=predictions.csv
  python -m r_lstm.predict --model=exports/demo --dataset=npz:digits.npz \
      --split=train --output=predictions.csv

`--model` is a workdir of `r_lstm.train` (its latest checkpoint) or a
directory written by `r_lstm.export` (read with TensorFlow's SavedModel
loader only). The data goes through the run's own pipeline (image size,
grayscale, the pMNIST permutation), so any dataset `r_lstm.train` reads
can be scored: the run's own by default, or another with `--dataset` /
`--data_dir`. The CSV has one row per example: its index in the split, its
label, the predicted class and the probability of every class.
"""

import io
from typing import Callable

from absl import flags

# First: it imports TensorFlow without its start-up notices.
from r_lstm import cli  # pylint: disable=g-bad-import-order

import numpy as np
import tensorflow as tf

from r_lstm import errors, export_lib, input_pipeline, train_lib
from r_lstm import workdir as workdir_lib

flags.DEFINE_string('model', None, 'A workdir of r_lstm.train or a directory '
                    'written by r_lstm.export.')
flags.DEFINE_string('dataset', None, "Dataset to score (default: the run's).")
flags.DEFINE_string('data_dir', None, "Its data directory (default: the "
                    "run's).")
flags.DEFINE_enum('split', 'test', ['test', 'train'], 'Which split to score '
                  '(test: the run\'s evaluation split).')
flags.DEFINE_string('output', None, 'CSV file to write.')
flags.DEFINE_integer('batch_size', 500, 'Examples per forward pass.')

FLAGS = flags.FLAGS

Scorer = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def load_scorer(model_dir: str):
  """(config, scorer, pipeline workdir, the run's data or None) of a
  workdir or an export; the scorer maps (tokens, lengths) to class
  probabilities. A workdir's data is loaded to build its model, so it is
  handed on rather than read again."""
  if export_lib.is_export(model_dir):
    served = tf.saved_model.load(model_dir)
    return (export_lib.load_config(model_dir),
            lambda tokens, lengths: served.serve(tokens, lengths)[
                'probabilities'], None, None)
  run = train_lib.load_trained(model_dir)
  model = run.model
  return (run.config,
          tf.function(lambda tokens, lengths: tf.nn.softmax(
              model(tokens, lengths))), model_dir, run.data)


def predict(scorer: Scorer, split: input_pipeline.Split,
            batch_size: int) -> np.ndarray:
  """Class probabilities (N, classes) of every example of `split`."""
  batches = [scorer(tf.cast(tokens, tf.int32), tf.cast(lengths, tf.int32))
             for tokens, lengths, _ in input_pipeline.eval_dataset(
                 split, batch_size)]
  return np.concatenate([np.asarray(b) for b in batches])


def to_csv(probabilities: np.ndarray, labels: np.ndarray) -> str:
  out = io.StringIO()
  classes = probabilities.shape[1]
  out.write(','.join(['index', 'label', 'prediction']
                     + [f'p_{k}' for k in range(classes)]) + '\n')
  for index, (row, label) in enumerate(zip(probabilities, labels)):
    out.write(f'{index},{int(label)},{int(row.argmax())},'
              + ','.join(f'{p:.6g}' for p in row) + '\n')
  return out.getvalue()


@cli.usage_errors_exit('r_lstm.predict')
def main(argv):
  del argv
  cli.require_flags('model', 'output')
  if FLAGS.batch_size <= 0:
    raise errors.UsageError(f'--batch_size must be a positive integer, got '
                            f'{FLAGS.batch_size}')
  workdir_lib.check_output_file(FLAGS.output, 'output')
  config, scorer, pipeline_workdir, data = load_scorer(FLAGS.model)
  changes = {name: getattr(FLAGS, name) for name in ('dataset', 'data_dir')
             if getattr(FLAGS, name)}
  if changes or data is None:
    config = config.replace(**changes)
    data = input_pipeline.load(config, pipeline_workdir)
  split = data.test if FLAGS.split == 'test' else data.train
  probabilities = predict(scorer, split, FLAGS.batch_size)
  workdir_lib.write_atomically(FLAGS.output, to_csv(probabilities,
                                                    split.labels))
  accuracy = float(np.mean(probabilities.argmax(-1) == split.labels))
  split_name = data.test_split_name if FLAGS.split == 'test' else 'train'
  print(f'{len(split)} examples of {config.dataset} ({split_name}): '
        f'accuracy {accuracy:.4f}; wrote {FLAGS.output}')


if __name__ == '__main__':
  cli.run(main)
