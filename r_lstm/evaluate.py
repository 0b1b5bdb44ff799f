r"""Scores a run's latest checkpoint: `python -m r_lstm.evaluate --workdir=DIR`.

The model and data are rebuilt from the `config.json` the run saved.
"""

from absl import app
from absl import flags

from r_lstm import cli, errors, train_lib
from r_lstm import workdir as workdir_lib

flags.DEFINE_string('workdir', None, 'Workdir of a run of r_lstm.train.')

FLAGS = flags.FLAGS


def evaluate_workdir(workdir: str):
  """Accuracy of the latest checkpoint in `workdir` on its evaluation split.

  Reads only: a run in progress or a read-only directory can be scored.
  """
  workdir_lib.check_readable(workdir)
  config = train_lib.read_saved_config(workdir)
  trainer = train_lib.load_run(config, workdir, writable=False)
  if not trainer.restore():
    raise errors.UsageError(f'{workdir} holds no checkpoint yet')
  return trainer, trainer.evaluate()


@cli.usage_errors_exit('r_lstm.evaluate')
def main(argv):
  del argv
  trainer, results = evaluate_workdir(FLAGS.workdir)
  print(f'step {trainer.step}: {trainer.data.test_split_name} accuracy '
        f'{results["accuracy"]:.4f} loss {results["loss"]:.4f} over '
        f'{int(results["examples"])} examples of {trainer.config.dataset}')


if __name__ == '__main__':
  app.run(main)
