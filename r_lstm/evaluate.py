r"""Scores a run's latest checkpoint: `python -m r_lstm.evaluate --workdir=DIR`.

The model and data are rebuilt from the `config.json` the run saved.
"""

from absl import flags

from r_lstm import cli
from r_lstm import quiet_tensorflow  # pylint: disable=unused-import
from r_lstm import train_lib  # pylint: disable=g-bad-import-order

flags.DEFINE_string('workdir', None, 'Workdir of a run of r_lstm.train.')

FLAGS = flags.FLAGS


def evaluate_workdir(workdir: str):
  """Accuracy of the latest checkpoint in `workdir` on its evaluation split.

  Reads only: a run in progress or a read-only directory can be scored.
  """
  run = train_lib.load_trained(workdir)
  return run, run.evaluate()


@cli.usage_errors_exit('r_lstm.evaluate')
def main(argv):
  del argv
  run, results = evaluate_workdir(FLAGS.workdir)
  print(f'step {run.step}: {run.data.test_split_name} accuracy '
        f'{results["accuracy"]:.4f} loss {results["loss"]:.4f} over '
        f'{int(results["examples"])} examples of {run.config.dataset}')


if __name__ == '__main__':
  cli.run(main)
