r"""Trains a model: `python -m r_lstm.train --workdir=DIR [--preset=demo]`.

Every field of `r_lstm.configs.Config` is a flag of the same name; flags left
unset keep the preset's value (see `r_lstm.configs.PRESETS`). Re-running the
same command resumes from the workdir's latest checkpoint, and so does
`--workdir=DIR` alone (the run's saved config.json is the base; flags such
as --train_steps still apply).
"""

import dataclasses
import typing
from typing import Optional

from absl import app
from absl import flags

from r_lstm import cli, configs, errors, initializers, train_lib
from r_lstm import workdir as workdir_lib

FIELD_HELP = {
    'dataset': 'mnist5k (offline), mnist, pmnist, cifar10, stanford_dogs, '
               'tfds:NAME, dbpedia, textcsv:DIR or npz:PATH.',
    'data_dir': 'TFDS data directory, or the CSV directory of dbpedia.',
    'image_size': 'Resize images to S x S pixels (S * S steps).',
    'grayscale': 'Read colour images as one grey value per pixel.',
    'max_length': 'Text: keep the first N bytes of each example.',
    'permutation_seed': 'Seed of the fixed pmnist pixel permutation.',
    'model': 'Model: the LSTM alone, with reconstruction (r), prediction (p) '
             'or both (rp) auxiliary losses, or the Transformer baseline.',
    'bptt': 'Supervised gradient reaches the last K steps; K >= sequence '
            'length is full backpropagation.',
    'embed_dim': 'Embedding size per channel.',
    'lstm_units': 'Main LSTM size.',
    'head_units': 'Feed-forward head sizes, e.g. 256,256.',
    'head_input': 'What the classifier head reads from the last step: h '
                  '(the LSTM output) or state (h and the cell c, '
                  'concatenated).',
    'aux_length': 'l: tokens each anchor reconstructs (r) or predicts (p).',
    'aux_bptt': 'Steps before the anchor the reconstruction gradient reaches '
                'in the main LSTM.',
    'num_anchors': 'Anchors per example per update.',
    'anchor_sharing': 'example (each example draws its own anchors) or batch '
                      '(a batch shares them, as the PyTorch reference does).',
    'aux_weight': 'Weight of the auxiliary losses.',
    'pretrain_steps': 'First updates train the auxiliary losses alone.',
    'decoder_units': 'Decoder LSTM size.',
    'decoder_layers': 'Decoder LSTM layers.',
    'decoder_head_units': 'Decoder head sizes, e.g. 256,256.',
    'decoder_init': 'auto (copy when sizes match) or project (learned linear '
                    'maps) for the decoder start.',
    'decoder_feed_rate': 'Probability that the r-LSTM decoder reads each true '
                         'element after the first (1: teacher forcing, 0: '
                         'reconstruct from the anchor state alone).',
    'decoder_unfed_input': 'What an r-LSTM decoder step not fed the true '
                           'element reads: none (no input) or sampled (a '
                           'sample of its own prediction: scheduled '
                           'sampling).',
    'decoder_embedding': 'shared (the r-LSTM decoder reads the main LSTM '
                         'embeddings) or own (a table of its own).',
    'decoder_order': 'forward (the r-LSTM decoder reconstructs the segment '
                     'oldest element first, as in the paper) or reverse '
                     '(newest first).',
    'init': 'Weight initialization scheme: keras, torch (PyTorch defaults) or '
            'tf1 (TensorFlow 1.x defaults); see r_lstm/initializers.py.',
    'init_embedding': 'Embedding initialization from another scheme than '
                      '--init.',
    'init_lstm_weights': 'LSTM kernel and recurrent kernel initialization '
                         'from another scheme than --init.',
    'init_lstm_bias': 'LSTM bias initialization from another scheme than '
                      '--init.',
    'init_dense': 'Dense layers (heads, decoder start maps) initialization '
                  'from another scheme than --init.',
    'transformer_units': 'Transformer baseline: model width.',
    'transformer_layers': 'Transformer baseline: encoder blocks.',
    'transformer_heads': 'Transformer baseline: attention heads.',
    'transformer_ffn_units': 'Transformer baseline: feed-forward width.',
    'optimizer': 'Optimizer.',
    'learning_rate': 'Learning rate.',
    'clip_norm': 'Global gradient-norm clip (0: off).',
    'adam_epsilon': "Adam's epsilon (Keras 1e-7; PyTorch and TF 1.x 1e-8).",
    'batch_size': 'Global batch size.',
    'eval_batch_size': 'Evaluation batch size.',
    'train_steps': 'Total number of updates.',
    'steps_per_loop': 'Updates per tf.function call and per progress line.',
    'eval_every': 'Evaluate every N updates.',
    'checkpoint_every': 'Checkpoint every N updates.',
    'max_checkpoints': 'Checkpoints kept in the workdir.',
    'seed': 'Random seed.',
    'deterministic': 'Enable TensorFlow op determinism (exact resume).',
}
_DEFINE_BY_TYPE = {int: flags.DEFINE_integer, float: flags.DEFINE_float,
                   str: flags.DEFINE_string, tuple: flags.DEFINE_list,
                   bool: flags.DEFINE_boolean}

flags.DEFINE_string('workdir', None, 'Directory for checkpoints, summaries, '
                    'metrics.jsonl and config.json.')
flags.DEFINE_boolean('override_config', False,
                     'Continue a run in --workdir although its saved config '
                     'differs from the flags (the new config is saved).')
flags.DEFINE_string('preset', None,
                    'Named config: default (the paper\'s MNIST model, K=300), '
                    'demo, or a cell of the paper\'s Table 2 such as '
                    'mnist_r_lstm_t300 and its _quick twin (README, '
                    'Presets). Unset: the config.json of the run in '
                    '--workdir, or else default.')


def _help(field: dataclasses.Field) -> str:
  """The field's help with its choices and its `default` preset value.

  Every config flag's own default is None (unset: the preset's value), so
  the value a run gets without the flag is written into the help.
  """
  text = FIELD_HELP[field.name]
  choices = configs.CHOICES.get(field.name)
  if field.name in configs.INIT_PART_FIELDS:
    choices = initializers.SCHEMES
  if choices:
    text += f' <{"|".join(choices)}>'
  default = field.default
  if isinstance(default, tuple):
    default = ','.join(str(n) for n in default)
  if default is None and field.name in configs.INIT_PART_FIELDS:
    default = '--init'
  return f'{text} (default: {default})'


def _define_config_flags():
  """One flag per Config field, typed after its annotation."""
  for field in dataclasses.fields(configs.Config):
    kind = typing.get_origin(field.type) or field.type  # Tuple[int] -> tuple
    if kind is typing.Union:  # Optional[X] -> X
      kind = typing.get_args(field.type)[0]
    _DEFINE_BY_TYPE[kind](field.name, None, _help(field))


_define_config_flags()

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
    config = configs.preset(FLAGS.preset or 'default')
    if saved is not None:
      config = configs.follow_saved_defaults(config, saved)
  overrides = {}
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


@cli.usage_errors_exit('r_lstm.train')
def main(argv):
  if len(argv) > 1:
    raise errors.UsageError(f'unexpected arguments {argv[1:]}')
  saved = None
  if FLAGS.workdir and workdir_lib.is_run(FLAGS.workdir):
    saved = train_lib.read_saved_config(FLAGS.workdir)
  train_lib.train_and_evaluate(config_from_flags(saved), FLAGS.workdir,
                               override_config=FLAGS.override_config)


if __name__ == '__main__':
  app.run(main)
