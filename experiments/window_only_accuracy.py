r"""Does a classifier use anything before its last K steps?

  python -m experiments.window_only_accuracy --workdir=runs/mnist_auxiliary/lstm_k300

Scores the workdir's latest checkpoint on its evaluation split twice: as is,
and with every token before the last --keep steps set to 0 (black pixels).
Equal accuracies mean the classifier reads only the last --keep steps.
"""

import dataclasses

from absl import app
from absl import flags

from r_lstm import evaluate

flags.DEFINE_integer('keep', 300, 'Steps left intact at the end of each '
                     'sequence.')

FLAGS = flags.FLAGS


def main(argv):
  del argv
  run, results = evaluate.evaluate_workdir(FLAGS.workdir)
  test = run.data.test
  tokens = test.tokens.copy()
  for row, length in enumerate(test.lengths):
    tokens[row, :max(length - FLAGS.keep, 0)] = 0
  run.evaluator.data = dataclasses.replace(
      run.data, test=dataclasses.replace(test, tokens=tokens))
  blanked = run.evaluate()
  print(f'step {run.step}: {run.data.test_split_name} accuracy '
        f'{results["accuracy"]:.4f}; with all but the last {FLAGS.keep} '
        f'steps blanked {blanked["accuracy"]:.4f}')


if __name__ == '__main__':
  app.run(main)
