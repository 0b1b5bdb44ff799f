r"""Trains a model: `python -m r_lstm.train --workdir=DIR [--preset=demo]`.

Every field of `r_lstm.configs.Config` is a flag of the same name; flags left
unset keep the preset's value (see `r_lstm.presets`). Re-running the
same command resumes from the workdir's latest checkpoint, and so does
`--workdir=DIR` alone (the run's saved config.json is the base; flags such
as --train_steps still apply).

TensorFlow is imported only after the flags, the config and the workdir
have passed the checks that need none of it, so that a mistake there ends
the program before TensorFlow's few seconds of import.
"""

import dataclasses
import sys
import typing
from typing import Optional

from absl import flags

from r_lstm import cli, config_migration, config_rules, configs, errors
from r_lstm import flag_docs, presets
from r_lstm import workdir as workdir_lib

_DEFINE_BY_TYPE = {int: flags.DEFINE_integer, float: flags.DEFINE_float,
                   str: flags.DEFINE_string, tuple: flags.DEFINE_list,
                   bool: flags.DEFINE_boolean}

flags.DEFINE_string('workdir', None, 'Directory for checkpoints, summaries, '
                    'metrics.jsonl and config.json: a local path or a URL '
                    'of a filesystem TensorFlow has (gs://bucket/run).')
flags.DEFINE_boolean('override_config', False,
                     'Continue a run in --workdir although its saved config '
                     'differs from the flags (the new config is saved).')
flags.DEFINE_string('preset', None,
                    'Named config: default (the paper\'s MNIST model, K=300), '
                    'demo, or a cell of the paper\'s Table 2 such as '
                    'mnist_r_lstm_t300 and its _quick twin (README, '
                    'Presets). Unset: the config.json of the run in '
                    '--workdir, or else default.')


def _define_config_flags():
  """One flag per Config field, typed after its annotation, its help from
  the field's metadata. Every config flag's own default is None (unset:
  the preset's value); --help and --helpfull list them by section with
  the values the command line would run with (`config_help`)."""
  for field in dataclasses.fields(configs.Config):
    kind = typing.get_origin(field.type) or field.type  # Tuple[int] -> tuple
    if kind is typing.Union:  # Optional[X] -> X
      kind = typing.get_args(field.type)[0]
    _DEFINE_BY_TYPE[kind](
        field.name, None, flag_docs.flag_help(field),
        module_name=f'r_lstm.train, {field.metadata["section"]} section')


_define_config_flags()
flags.DEFINE_string(
    'model', None, 'Earlier name of --backbone and --auxiliary together: '
    + ', '.join(config_migration.LEGACY_MODELS) + ' (r_lstm is '
    '--auxiliary=reconstruction). Still works, and says what it maps to.')
flags.DEFINE_string(
    'cell', None, 'Earlier name of the recurrent --backbone: '
    + ', '.join(config_migration.LEGACY_CELLS) + '. Still works, and says '
    'what it maps to.')

FLAGS = flags.FLAGS


def config_from_flags(saved: Optional[configs.Config] = None
                      ) -> configs.Config:
  """The run's config: a base, then every flag given.

  The base is the config a run in the workdir saved (`saved`) when no
  --preset is given, so `--workdir` alone resumes a run; else the preset,
  following `saved` in the fields whose defaults changed since it was made.
  """
  if FLAGS.preset is None and saved is not None:
    config = saved
  else:
    config = presets.preset(FLAGS.preset or 'default')
    if saved is not None:
      config = config_migration.follow_saved_defaults(config, saved)
  overrides = {name: FLAGS[name].value
               for name in config_migration.LEGACY_FIELDS
               if FLAGS[name].value is not None}
  if overrides:
    note = config_migration.describe_legacy(FLAGS.model, FLAGS.cell)
    print(f'r_lstm.train: note: {note}; the old flags keep working',
          file=sys.stderr)
  for field in dataclasses.fields(configs.Config):
    value = FLAGS[field.name].value
    if value is None:
      continue
    if isinstance(field.default, tuple):
      try:
        value = tuple(int(n) for n in value)
      except ValueError:
        raise errors.UsageError(
            f'--{field.name} takes integers, e.g. 256,256') from None
    overrides[field.name] = value
  return config.replace(**overrides)


def _saved_config() -> Optional[configs.Config]:
  """The config of the run in --workdir, if it holds one."""
  if FLAGS.workdir and workdir_lib.is_run(FLAGS.workdir):
    return workdir_lib.read_saved_config(FLAGS.workdir)
  return None


def _training_library():
  """`r_lstm.train_lib`, imported (with TensorFlow) on first use."""
  # pylint: disable=g-import-not-at-top,unused-import
  from r_lstm import quiet_tensorflow
  from r_lstm import train_lib
  return train_lib


def config_help() -> str:
  """--help's config flags, with the values this command would run with.
  Imports the training library first, so that --helpfull lists the flags
  of TensorFlow and TFDS too."""
  _training_library()
  saved = _saved_config()
  if FLAGS.preset or saved is None:
    source = f'preset {FLAGS.preset or "default"}'
  else:
    source = f'the run saved in {FLAGS.workdir}'
  return flag_docs.config_help(config_from_flags(saved), source)


@cli.usage_errors_exit('r_lstm.train')
def main(argv):
  if len(argv) > 1:
    raise errors.UsageError(f'unexpected arguments {argv[1:]}')
  config = config_from_flags(_saved_config())
  config_rules.validate(config)
  workdir_lib.check_writable(FLAGS.workdir)
  _training_library().train_and_evaluate(
      config, FLAGS.workdir, override_config=FLAGS.override_config)


if __name__ == '__main__':
  cli.run(main, config_help)
