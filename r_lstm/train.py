r"""Trains a model: `python -m r_lstm.train --workdir=DIR [--preset=demo]`.

Flags left unset keep the preset's value (see `r_lstm.configs.PRESETS`).
Re-running the same command resumes from the workdir's latest checkpoint.
"""

from absl import app
from absl import flags

from r_lstm import cli, configs, train_lib

flags.DEFINE_string('workdir', None, 'Directory for checkpoints, summaries, '
                    'metrics.jsonl and config.json.')
flags.DEFINE_string('preset', 'default',
                    f'Named config: {", ".join(sorted(configs.PRESETS))}.')
flags.DEFINE_string('dataset', None, 'mnist5k (offline) or npz:PATH.')
flags.DEFINE_string('data_dir', None, 'Directory of TFDS-style data.')
flags.DEFINE_integer('image_size', None, 'Resize images to S x S pixels.')
flags.DEFINE_string('model', None, f'One of {", ".join(configs.MODELS)}.')
flags.DEFINE_integer('bptt', None, 'Supervised gradient reaches the last K '
                     'steps; K >= sequence length is full backpropagation.')
flags.DEFINE_integer('embed_dim', None, 'Embedding size per channel.')
flags.DEFINE_integer('lstm_units', None, 'Main LSTM size.')
flags.DEFINE_list('head_units', None, 'Feed-forward head sizes, e.g. 256,256.')
flags.DEFINE_integer('aux_length', None, 'l: tokens each anchor reconstructs '
                     '(r_lstm) or predicts (p_lstm).')
flags.DEFINE_integer('aux_bptt', None, 'Steps before the anchor the '
                     'reconstruction gradient reaches in the main LSTM.')
flags.DEFINE_integer('num_anchors', None, 'Anchors per example per update.')
flags.DEFINE_float('aux_weight', None, 'Weight of the auxiliary losses.')
flags.DEFINE_integer('pretrain_steps', None,
                     'First updates train the auxiliary losses alone.')
flags.DEFINE_integer('decoder_units', None, 'Decoder LSTM size.')
flags.DEFINE_integer('decoder_layers', None, 'Decoder LSTM layers.')
flags.DEFINE_list('decoder_head_units', None, 'Decoder head sizes.')
flags.DEFINE_string('decoder_init', None, 'auto (copy when sizes match) or '
                    'project (learned linear maps) for the decoder start.')
flags.DEFINE_string('optimizer', None,
                    f'One of {", ".join(configs.OPTIMIZERS)}.')
flags.DEFINE_float('learning_rate', None, 'Learning rate.')
flags.DEFINE_float('clip_norm', None, 'Global gradient-norm clip (0: off).')
flags.DEFINE_integer('batch_size', None, 'Global batch size.')
flags.DEFINE_integer('eval_batch_size', None, 'Evaluation batch size.')
flags.DEFINE_integer('train_steps', None, 'Total number of updates.')
flags.DEFINE_integer('steps_per_loop', None,
                     'Updates per tf.function call and per progress line.')
flags.DEFINE_integer('eval_every', None, 'Evaluate every N updates.')
flags.DEFINE_integer('checkpoint_every', None, 'Checkpoint every N updates.')
flags.DEFINE_integer('seed', None, 'Random seed.')

FLAGS = flags.FLAGS


def config_from_flags() -> configs.Config:
  config = configs.preset(FLAGS.preset)
  overrides = {}
  for field in configs.Config.__dataclass_fields__:
    if field in FLAGS and FLAGS[field].value is not None:
      overrides[field] = FLAGS[field].value
  for name in ('head_units', 'decoder_head_units'):
    if name in overrides:
      try:
        overrides[name] = tuple(int(n) for n in overrides[name])
      except ValueError:
        raise configs.UsageError(f'--{name} takes integers, e.g. 256,256')
  return config.replace(**overrides)


@cli.usage_errors_exit('r_lstm.train')
def main(argv):
  if len(argv) > 1:
    raise configs.UsageError(f'unexpected arguments {argv[1:]}')
  train_lib.train_and_evaluate(config_from_flags(), FLAGS.workdir)


if __name__ == '__main__':
  app.run(main)
