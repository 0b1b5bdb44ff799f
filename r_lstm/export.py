r"""Takes a trained run out of the project (`r_lstm.export_lib`).

  python -m r_lstm.export --workdir=runs/demo --output=exports/demo

writes, from the run's latest checkpoint, a directory that is

- a SavedModel: `tf.saved_model.load(DIR)` in a process with TensorFlow
  alone (no r_lstm) gives `serve(tokens, lengths)` and the
  `serving_default` signature: int32 tokens [batch, time, channels] and
  lengths [batch] -> {'probabilities': [batch, classes]};
- `DIR/model.keras`: the Keras model (`keras.models.load_model` after
  `import r_lstm`), for fine-tuning or `predict`;
- `DIR/config.json`: the run's config, which says how the data pipeline
  turns images or text into the tokens the model reads (image size,
  grayscale, the pMNIST permutation seed), so `r_lstm.predict` can score a
  dataset with the export alone.

The tokens are the sequence the model reads: pixels in reading order after
any resize, grey conversion and permutation, or bytes of text.
"""

from absl import flags

from r_lstm import cli
from r_lstm import quiet_tensorflow  # pylint: disable=unused-import
from r_lstm import export_lib  # pylint: disable=g-bad-import-order

flags.DEFINE_string('workdir', None, 'Workdir of a run of r_lstm.train.')
flags.DEFINE_string('output', None, 'New directory to write the export to.')

FLAGS = flags.FLAGS


@cli.usage_errors_exit('r_lstm.export')
def main(argv):
  del argv
  cli.require_flags('workdir', 'output')
  step = export_lib.export_workdir(FLAGS.workdir, FLAGS.output)
  print(f'exported {FLAGS.workdir} at step {step} to {FLAGS.output} '
        f'(SavedModel, {export_lib.KERAS_FILE}, {export_lib.CONFIG_FILE})')


if __name__ == '__main__':
  cli.run(main)
