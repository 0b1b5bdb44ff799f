r"""Builds a standard TFDS data directory from local arrays, offline.

  python -m r_lstm.import_arrays --name=mnist \
      --npz=../shared/datasets/mnist.npz --data_dir=~/tensorflow_datasets

For machines without network: the arrays (keras layout: x_train, y_train,
x_test, y_test) are written under the registered name, version and features
of the TFDS dataset `--name` (an image, a label and optional text ids), so
that afterwards
`tfds.load(NAME, data_dir=DIR)` and `r_lstm.train --dataset=NAME
--data_dir=DIR` read them like a download. Images are checked against the
dataset's image shape and labels against its classes first; nothing is
written when they do not fit. Examples keep the order of the arrays.
"""

import contextlib
import io
import os

import numpy as np

from absl import flags

# First: it imports TensorFlow without its start-up notices.
from r_lstm import cli  # pylint: disable=g-bad-import-order
from r_lstm import quiet_tensorflow  # pylint: disable=unused-import

import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.core.utils import tqdm_utils

from r_lstm import arrays, tfds_data
from r_lstm.errors import UsageError

flags.DEFINE_string('name', None, 'Registered TFDS image-classification '
                    'dataset to write, e.g. mnist, cifar10.')
flags.DEFINE_string('npz', None, 'Keras-layout arrays: x_train, y_train, '
                    'x_test, y_test.')
flags.DEFINE_string('data_dir', None, 'TFDS data directory to write into.')

FLAGS = flags.FLAGS


def import_arrays(name: str, npz: str, data_dir: str) -> str:
  """Writes the arrays of `npz` as TFDS dataset `name` under `data_dir`;
  returns the directory of the written version."""
  if not data_dir:
    raise UsageError('--data_dir is required: the TFDS directory to write')
  if os.path.lexists(data_dir) and not os.path.isdir(data_dir):
    raise UsageError(f'--data_dir={data_dir} is a file, not a directory')
  ancestor = os.path.abspath(data_dir)
  while not os.path.lexists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if not os.path.isdir(ancestor):
    raise UsageError(f'--data_dir={data_dir}: {ancestor} is a file, so no '
                     'directory can be made under it')
  registered = tfds_data.builder(name, data_dir)
  info = registered.info
  image_key, label_key = tfds_data.image_and_label_keys(info)
  want_shape = info.features[image_key].shape
  num_classes = info.features[label_key].num_classes
  # Text features besides the two (cifar10's 'id') get '<split>_<index>'.
  ids = sorted(set(info.features.keys()) - {image_key, label_key})
  if any(not isinstance(info.features[k], tfds.features.Text) for k in ids):
    raise UsageError(f'{name} has features besides an image, a label and '
                     f'text ids ({", ".join(ids)}); import_arrays writes only '
                     'sets made of those (mnist, fashion_mnist, cifar10, ...)')
  npz_arrays = arrays.read_npz(npz)
  splits = {}
  for split in ('train', 'test'):
    images, labels = npz_arrays[f'x_{split}'], npz_arrays[f'y_{split}']
    if images.ndim == 3:
      images = images[..., np.newaxis]
    fits = images.ndim == 4 and all(
        want is None or want == got
        for want, got in zip(want_shape, images.shape[1:]))
    if images.dtype != np.uint8 or not fits:
      raise UsageError(f'{npz}: x_{split} has shape {images.shape} '
                       f'{images.dtype}; {name} needs uint8 images of shape '
                       f'{want_shape}')
    if (labels.ndim != 1 or len(labels) != len(images)
        or not np.issubdtype(labels.dtype, np.integer)
        or labels.min() < 0 or labels.max() >= num_classes):
      raise UsageError(f'{npz}: y_{split} must hold one label in '
                       f'0..{num_classes - 1} per image')
    columns = {image_key: images, label_key: labels.astype(np.int64)}
    for key in ids:
      columns[key] = np.array([f'{split}_{i:05d}' for i in range(len(images))])
    splits[split] = tf.data.Dataset.from_tensor_slices(columns)
  # TFDS prints "Downloading and preparing dataset" and draws progress bars
  # while it writes; nothing is downloaded here, and the caller says what
  # was written.
  with contextlib.redirect_stdout(io.StringIO()), _no_progress_bars():
    stored = tfds.dataset_builders.store_as_tfds_dataset(
        name=name, version=str(info.version),
        features=info.features,
        split_datasets=splits, data_dir=data_dir, disable_shuffling=True)
  return str(stored.data_dir)


@contextlib.contextmanager
def _no_progress_bars():
  """TFDS' progress bars off, then as they were (TFDS has a switch and no
  way to read it back but its module state)."""
  was_active = tqdm_utils._active  # pylint: disable=protected-access
  tfds.display_progress_bar(False)
  try:
    yield
  finally:
    tfds.display_progress_bar(was_active)


@cli.usage_errors_exit('r_lstm.import_arrays')
def main(argv):
  if len(argv) > 1:
    raise UsageError(f'unexpected arguments {argv[1:]}')
  cli.require_flags('name', 'npz')
  written = import_arrays(FLAGS.name, FLAGS.npz, FLAGS.data_dir)
  print(f'Wrote {FLAGS.name} to {written}; train with --dataset={FLAGS.name} '
        f'--data_dir={FLAGS.data_dir}')


if __name__ == '__main__':
  cli.run(main)
