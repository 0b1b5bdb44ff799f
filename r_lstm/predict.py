r"""Scores a dataset split, or image / text files, with a trained run or
an export.

  python -m r_lstm.predict --model=runs/demo --output=predictions.csv
  python -m r_lstm.predict --model=exports/demo --dataset=npz:digits.npz \
      --split=train --output=predictions.csv
  python -m r_lstm.predict --model=exports/demo --inputs='digits/*.png' \
      --output=predictions.csv

`--model` is a workdir of `r_lstm.train` (its latest checkpoint) or a
directory written by `r_lstm.export` (read with TensorFlow's SavedModel
loader only). The data goes through the run's own pipeline (image size,
grayscale, the pMNIST permutation), so any dataset `r_lstm.train` reads
can be scored: the run's own by default, or another with `--dataset` /
`--data_dir`. The CSV has one row per example: its index in the split, its
label, the predicted class and the probability of every class.

`--inputs` scores files instead: `.npy` arrays of uint8 images
[N, H, W(, C)] and image files (PNG, JPEG, GIF, BMP) for an image run, text
files (one text each) for a text run, through the run's raw-input endpoint
(`r_lstm.serving`: the run's own resize, grey conversion and permutation).
Its CSV rows name the file (and the row of an array) instead of a label.
"""

import glob
import io
from typing import Callable, Iterator, List, Tuple

from absl import flags

# First: it imports TensorFlow without its start-up notices.
from r_lstm import cli  # pylint: disable=g-bad-import-order
from r_lstm import quiet_tensorflow  # pylint: disable=unused-import

import numpy as np
import tensorflow as tf

from r_lstm import disk_space, errors, export_lib, files, input_pipeline
from r_lstm import serving
from r_lstm import train_lib
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
flags.DEFINE_list('inputs', None, 'Score these files instead of a dataset: '
                  '.npy uint8 image arrays and image files (image runs), '
                  'text files (text runs); glob patterns expand.')

FLAGS = flags.FLAGS

Scorer = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def load_scorer(model_dir: str):
  """(config, channels, scorer, raw scorer, pipeline workdir, the run's
  data or None) of a workdir or an export. `channels` is the tokens' per
  step; the scorer maps (tokens, lengths) to class probabilities; the raw
  scorer maps images or texts to them (None when the model has no raw
  input). A workdir's data is loaded to build its model, so it is handed
  on rather than read again."""
  if export_lib.is_export(model_dir):
    config = export_lib.load_config(model_dir)
    served = export_lib.load_saved_model(model_dir)
    raw = next((getattr(served, name) for name in
                (serving.IMAGES_ENDPOINT, serving.TEXT_ENDPOINT)
                if hasattr(served, name)), None)
    return (config, export_lib.served_channels(served, model_dir),
            lambda tokens, lengths: served.serve(tokens, lengths)[
                'probabilities'],
            raw and (lambda inputs: raw(inputs)['probabilities']),
            None, None)
  run = train_lib.load_trained(model_dir)
  probabilities = serving.probabilities_of(run.model)
  raw = serving.raw_endpoint(probabilities, run.config, run.data)
  raw_scorer = raw and tf.function(
      lambda inputs: raw.function(inputs)['probabilities'],
      input_signature=raw.signature)
  # The export's signature: both paths trace (and refuse) alike.
  return (run.config, run.data.channels,
          tf.function(lambda tokens, lengths: probabilities(
              tokens, lengths)['probabilities'],
                      input_signature=export_lib.serving_signature(
                          run.data.channels)),
          raw_scorer, model_dir, run.data)


def _read_npy(path: str) -> np.ndarray:
  try:
    with files.open_binary(path) as f:
      array = np.load(f, allow_pickle=False)
  except (OSError, ValueError) as error:
    raise errors.UsageError(f'cannot read {path}: {error}') from None
  if array.ndim == 3:
    array = array[..., np.newaxis]
  if (array.dtype != np.uint8 or array.ndim != 4 or 0 in array.shape
      or array.shape[-1] not in (1, 3)):
    raise errors.UsageError(
        f'{path} holds {array.dtype} {array.shape}; --inputs arrays are '
        'uint8 images [N, H, W] or [N, H, W, C] with 1 or 3 channels')
  return array


def _read_image(path: str, channels: int) -> np.ndarray:
  """An image file as uint8 [1, H, W, channels]."""
  try:
    image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                               expand_animations=False)
  except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
    raise errors.UsageError(f'cannot read {path} as an image: '
                            f'{error.message.splitlines()[0]}') from None
  return image.numpy()[np.newaxis]


def raw_inputs(patterns: List[str], config, channels: int, batch_size: int
               ) -> Iterator[Tuple[List[str], object]]:
  """Batches (names, images or texts) of the files `patterns` name, for a
  model that reads `channels` per step."""
  paths = []
  for pattern in patterns:
    found = sorted(files.glob(pattern)) if glob.has_magic(pattern) else [
        pattern]
    if not found or not all(files.isfile(path) for path in found):
      raise errors.UsageError(f'--inputs: no file {pattern}')
    paths += found
  if serving.is_text(config):
    for start in range(0, len(paths), batch_size):
      names = paths[start:start + batch_size]
      texts = []
      for path in names:
        with files.open_binary(path) as f:
          texts.append(f.read())
      yield names, tf.constant(texts)
    return
  # An image file has its own size: one per batch. A grey run converts
  # colour as its training did; otherwise the decoder gives the model's
  # channels (its own grey conversion for a colour file).
  image_channels = 3 if config.grayscale else channels
  for path in paths:
    if path.endswith('.npy'):
      array = _read_npy(path)
      for start in range(0, len(array), batch_size):
        rows = range(start, min(start + batch_size, len(array)))
        yield [f'{path}:{row}' for row in rows], array[rows.start:rows.stop]
    else:
      yield [path], _read_image(path, image_channels)


def check_fits(config, channels: int, split: input_pipeline.Split) -> None:
  """Raises UsageError when `split` is not data the model was built for:
  another number of channels per step."""
  if split.tokens.shape[-1] != channels:
    raise errors.UsageError(
        f'{config.dataset} has {split.tokens.shape[-1]} channel(s) per step '
        f'after the run\'s pipeline, and the model reads {channels} (a colour '
        f'set for a grey model: train with --grayscale, or convert the data)',
        fields=('dataset',))


def predict(scorer: Scorer, split: input_pipeline.Split, batch_size: int,
            what: str = 'the data') -> np.ndarray:
  """Class probabilities (N, classes) of every example of `split` (named
  `what` in a refusal)."""
  return np.concatenate([
      _scored(scorer, tf.cast(tokens, tf.int32), tf.cast(lengths, tf.int32),
              what=what)
      for tokens, lengths, _ in input_pipeline.eval_dataset(split,
                                                            batch_size)])


def _scored(scorer: Scorer, *inputs, what: str) -> np.ndarray:
  """`scorer(*inputs)`; UsageError naming `what` when the model refuses
  them (`serving.refusal`: tokens outside its vocabulary, images of
  another channel count)."""
  try:
    return np.asarray(scorer(*inputs))
  except tf.errors.InvalidArgumentError as error:
    raise errors.UsageError(f'{what}: {serving.refusal(error)}') from None


def to_csv(probabilities: np.ndarray, labels, column: str = 'label') -> str:
  """One row per example: its index, its `column` (the label, or the file
  it came from), the prediction and every class probability."""
  out = io.StringIO()
  classes = probabilities.shape[1]
  out.write(','.join(['index', column, 'prediction']
                     + [f'p_{k}' for k in range(classes)]) + '\n')
  for index, (row, label) in enumerate(zip(probabilities, labels)):
    label = int(label) if column == 'label' else f'"{label}"'
    out.write(f'{index},{label},{int(row.argmax())},'
              + ','.join(f'{p:.6g}' for p in row) + '\n')
  return out.getvalue()


def score_inputs(config, channels: int, raw_scorer, patterns: List[str],
                 batch_size: int) -> Tuple[List[str], np.ndarray]:
  """(file names, probabilities) of the files `patterns` name."""
  if raw_scorer is None:
    raise errors.UsageError(
        'this model takes no images or text: it was trained on token arrays '
        '(score them with --dataset=npz:PATH), or it is an export made '
        'before exports served them (export the run again)')
  names, batches = [], []
  for batch_names, inputs in raw_inputs(patterns, config, channels,
                                        batch_size):
    batches.append(_scored(raw_scorer, inputs, what=batch_names[0]))
    names += batch_names
  return names, np.concatenate(batches)


def write_predictions(output: str, text: str) -> None:
  """Writes the CSV `text` to `output`, after checking there is room for
  it (a refusal names the sizes, where the write would only say ENOSPC)."""
  disk_space.check_room(output, len(text.encode('utf-8')), 'the predictions',
                        'Free space there, or write them elsewhere.')
  files.write_atomically(output, text)


@cli.usage_errors_exit('r_lstm.predict')
def main(argv):
  del argv
  cli.require_flags('model', 'output')
  if FLAGS.batch_size <= 0:
    raise errors.UsageError(f'--batch_size must be a positive integer, got '
                            f'{FLAGS.batch_size}')
  workdir_lib.check_output_file(FLAGS.output, 'output')
  if FLAGS.inputs and (FLAGS.dataset or FLAGS.data_dir):
    raise errors.UsageError('--inputs scores files; --dataset and --data_dir '
                            'score a dataset: give one or the other')
  config, channels, scorer, raw_scorer, pipeline_workdir, data = (
      load_scorer(FLAGS.model))
  if FLAGS.inputs:
    names, probabilities = score_inputs(config, channels, raw_scorer,
                                        FLAGS.inputs, FLAGS.batch_size)
    write_predictions(FLAGS.output,
                      to_csv(probabilities, names, column='input'))
    print(f'{len(names)} inputs scored; wrote {FLAGS.output}')
    return
  changes = {name: getattr(FLAGS, name) for name in ('dataset', 'data_dir')
             if getattr(FLAGS, name)}
  if changes or data is None:
    config = config.replace(**changes)
    data = input_pipeline.load(config, pipeline_workdir)
  split = data.test if FLAGS.split == 'test' else data.train
  check_fits(config, channels, split)
  probabilities = predict(scorer, split, FLAGS.batch_size, config.dataset)
  if split.labels.max() >= probabilities.shape[1]:
    raise errors.UsageError(
        f'{config.dataset} has label {split.labels.max()}, and the model has '
        f'{probabilities.shape[1]} classes (0..{probabilities.shape[1] - 1})')
  write_predictions(FLAGS.output, to_csv(probabilities, split.labels))
  accuracy = float(np.mean(probabilities.argmax(-1) == split.labels))
  split_name = data.test_split_name if FLAGS.split == 'test' else 'train'
  print(f'{len(split)} examples of {config.dataset} ({split_name}): '
        f'accuracy {accuracy:.4f}; wrote {FLAGS.output}')


if __name__ == '__main__':
  cli.run(main)
