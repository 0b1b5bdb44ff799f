r"""How much of the class can be read linearly from the main LSTM's state?

  python -m experiments.state_probe --workdir=runs/mnist_auxiliary/r_lstm_k300

A truncated classifier can only use what the state at the start of its window
already holds, and an auxiliary loss helps only if it makes the state hold
more. This measures that directly: the main LSTM runs over --train_examples
training and --test_examples evaluation sequences, (h, c) is taken after each
of --positions steps, and a ridge-regression classifier (one-hot targets,
closed form, standardised features) fit on the training states is scored on
the evaluation states. Even an untrained state holds some of the class (it
reflects the pixels just read); memory shows as accuracy that survives from
the digit's middle rows to the steps after it, e.g. 484 (the start of the
K = 300 window) and 784 (the end).

With --read=h the probe reads h alone, what a classifier with
--head_input=h sees: a closed output gate can hide from h what c holds.

With --pixel_ranges the same probe reads raw tokens instead (scaled to
[0, 1]): how much of the class a linear model finds in, e.g., the last 300
pixels alone (`--pixel_ranges=484:784`), the ceiling of a classifier that
only uses its window.
"""

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from r_lstm import evaluate, input_pipeline, train_lib, unroll
from r_lstm import workdir as workdir_lib

# --workdir comes with r_lstm.evaluate.
flags.DEFINE_list('positions', ['200', '300', '400', '484', '600', '700',
                                '784'], 'Steps after which the state is read.')
flags.DEFINE_integer('train_examples', 4000, 'Sequences to fit the probe on.')
flags.DEFINE_integer('test_examples', 2000, 'Sequences to score it on.')
flags.DEFINE_float('ridge', 1.0, 'L2 penalty of the probe.')
flags.DEFINE_integer('chunk', 500, 'Sequences per LSTM pass.')
flags.DEFINE_bool('untrained', False, 'Probe the freshly initialised model '
                  'of the workdir\'s config instead of its checkpoint.')
flags.DEFINE_enum('read', 'state', ['state', 'h'], 'Probe (h, c) '
                  'concatenated, or h alone.')
flags.DEFINE_list('pixel_ranges', None, 'Probe raw token ranges start:end '
                  'instead of the state.')

FLAGS = flags.FLAGS


def states_at(model, tokens: np.ndarray, positions, chunk: int) -> np.ndarray:
  """(N, len(positions), parts * units): the state after each position
  (an LSTM's [h, c])."""
  out = []
  for start in range(0, len(tokens), chunk):
    inputs = tf.transpose(tf.constant(tokens[start:start + chunk]), [1, 0, 2])
    rows = inputs.shape[1]
    state = unroll.capture_states(
        model.encoder.core(), inputs,
        tf.tile(tf.constant([positions], tf.int32), [rows, 1]))
    out.append(np.concatenate([part.numpy() for part in state], axis=-1))
  return np.concatenate(out, axis=0)


def read_part(states: np.ndarray, read: str) -> np.ndarray:
  """`states_at` output, or only its h half with read 'h'."""
  if read == 'h':
    return states[..., :states.shape[-1] // 2]
  return states


def ridge_probe_accuracy(train_x, train_y, test_x, test_y, num_classes: int,
                         ridge: float) -> float:
  """Accuracy of a closed-form ridge classifier on one-hot targets."""
  mean, std = train_x.mean(0), train_x.std(0) + 1e-6
  def features(x):
    x = (x - mean) / std
    return np.concatenate([x, np.ones([len(x), 1])], axis=1)
  x = features(train_x).astype(np.float64)
  targets = np.eye(num_classes)[train_y]
  weights = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]),
                            x.T @ targets)
  predicted = np.argmax(features(test_x) @ weights, axis=1)
  return float(np.mean(predicted == test_y))


def probe(run, positions, train_examples, test_examples, ridge, chunk,
          read='state'):
  """{position: probe accuracy} for a Trainer's model and data."""
  data = run.data
  train, test = (
      read_part(states_at(run.model, split.tokens[:examples], positions,
                          chunk), read)
      for split, examples in ((data.train, train_examples),
                              (data.test, test_examples)))
  return {p: ridge_probe_accuracy(
      train[:, i], data.train.labels[:train_examples], test[:, i],
      data.test.labels[:test_examples], data.num_classes, ridge)
          for i, p in enumerate(positions)}


def pixel_probe(data, ranges, train_examples, test_examples, ridge):
  """{(start, end): probe accuracy on raw tokens [start, end) / 255}."""
  def tokens(split, examples, start, end):
    return split.tokens[:examples, start:end].reshape(
        min(examples, len(split)), -1) / 255.0
  return {(start, end): ridge_probe_accuracy(
      tokens(data.train, train_examples, start, end),
      data.train.labels[:train_examples],
      tokens(data.test, test_examples, start, end),
      data.test.labels[:test_examples], data.num_classes, ridge)
          for start, end in ranges}


def saved_config(workdir):
  config = workdir_lib.read_saved_config(workdir)
  if config is None:
    raise app.UsageError(f'{workdir} holds no run of r_lstm.train')
  return config


def main(argv):
  del argv
  if FLAGS.pixel_ranges:
    ranges = [tuple(int(x) for x in r.split(':')) for r in FLAGS.pixel_ranges]
    data = input_pipeline.load(saved_config(FLAGS.workdir), FLAGS.workdir)
    accuracies = pixel_probe(data, ranges, FLAGS.train_examples,
                             FLAGS.test_examples, FLAGS.ridge)
    print('| tokens | linear probe accuracy |')
    print('|---|---|')
    for (start, end), accuracy in accuracies.items():
      print(f'| [{start}, {end}) | {accuracy:.4f} |')
    return
  if FLAGS.untrained:
    run = train_lib.load_run(saved_config(FLAGS.workdir), FLAGS.workdir)
    results = run.evaluate()
  else:
    run, results = evaluate.evaluate_workdir(FLAGS.workdir)
  if not run.config.backbone_entry.recurrent:
    raise app.UsageError(f'the {run.config.backbone} backbone has no '
                         'recurrent state to probe')
  positions = [int(p) for p in FLAGS.positions]
  accuracies = probe(run, positions, FLAGS.train_examples,
                     FLAGS.test_examples, FLAGS.ridge, FLAGS.chunk,
                     FLAGS.read)
  part = '(h, c)' if FLAGS.read == 'state' else 'h'
  print(f'step {run.step}: classifier accuracy {results["accuracy"]:.4f}; '
        f'linear probe accuracy of {part} after step')
  print('| ' + ' | '.join(str(p) for p in positions) + ' |')
  print('|---' * len(positions) + '|')
  print('| ' + ' | '.join(f'{accuracies[p]:.3f}' for p in positions) + ' |')


if __name__ == '__main__':
  app.run(main)
