r"""Scores a run's latest checkpoint: `python -m r_lstm.evaluate --workdir=DIR`.

The model and data are rebuilt from the `config.json` the run saved.
"""

import os

from absl import app
from absl import flags

from r_lstm import cli, configs, train_lib

flags.DEFINE_string('workdir', None, 'Workdir of a run of r_lstm.train.')

FLAGS = flags.FLAGS


def evaluate_workdir(workdir: str):
  """Accuracy of the latest checkpoint in `workdir` on its evaluation split."""
  configs.check_workdir(workdir)
  config_path = os.path.join(workdir, train_lib.CONFIG_FILE)
  if not os.path.isfile(config_path):
    raise configs.UsageError(f'{workdir} holds no run ({config_path} is '
                             'missing); train with r_lstm.train first')
  with open(config_path) as f:
    config = configs.Config.from_json(f.read())
  trainer = train_lib.load_run(config, workdir)
  if not trainer.restore():
    raise configs.UsageError(f'{workdir} holds no checkpoint yet')
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
