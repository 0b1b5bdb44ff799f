"""Image-classification datasets read from a TFDS data directory, offline.

This module never downloads: a dataset must already be prepared in the data
directory (by TFDS on a machine with network, or offline from local arrays
with `python -m r_lstm.import_arrays`). When it is not, the error names the
directory searched and how to prepare it.
"""

from typing import NamedTuple, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from r_lstm import images as images_lib
from r_lstm.errors import UsageError, first_line

# Preferred evaluation splits, in order: the first one the dataset has wins.
EVAL_SPLITS = ('test', 'validation')


class ImageSplits(NamedTuple):
  x_train: np.ndarray  # (N, H, W, C) uint8
  y_train: np.ndarray  # (N,) int32
  x_test: np.ndarray
  y_test: np.ndarray
  test_split_name: str
  num_classes: int


def builder(name: str, data_dir: Optional[str]) -> tfds.core.DatasetBuilder:
  """The registered TFDS builder of `name`, reading from `data_dir`."""
  try:
    return tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise UsageError(f'TFDS has no dataset named {name!r}; see '
                     'tfds.list_builders() for the names') from None


def image_and_label_keys(info: tfds.core.DatasetInfo) -> Tuple[str, str]:
  """The image and class-label features of an image-classification set:
  its supervised keys when they are (Image, ClassLabel), else the first
  feature of each kind."""
  features = info.features
  keys = info.supervised_keys
  if (isinstance(keys, tuple) and len(keys) == 2
      and all(isinstance(k, str) and k in features for k in keys)
      and isinstance(features[keys[0]], tfds.features.Image)
      and isinstance(features[keys[1]], tfds.features.ClassLabel)):
    return keys
  images = [k for k, f in features.items()
            if isinstance(f, tfds.features.Image)]
  labels = [k for k, f in features.items()
            if isinstance(f, tfds.features.ClassLabel)]
  if not images or not labels:
    raise UsageError(f'{info.name} is not an image-classification dataset: '
                     'it needs an Image and a ClassLabel feature, has '
                     f'{", ".join(sorted(features.keys()))}')
  return images[0], labels[0]


def load_images(name: str, data_dir: Optional[str],
                image_size: Optional[int], grayscale: bool) -> ImageSplits:
  """Reads the train split and the evaluation split of a TFDS image set.

  Images are resized here (before they are stacked) when `image_size` is
  given; sets whose images vary in size (stanford_dogs) need it.
  """
  dataset_builder = builder(name, data_dir)
  info = dataset_builder.info
  image_key, label_key = image_and_label_keys(info)
  image_shape = info.features[image_key].shape
  if image_size is None and None in image_shape[:2]:
    raise UsageError(f'{name} images vary in size; pass image_size=S to '
                     'read them as S x S pixels',
                     fields=('image_size',))
  available = set(info.splits.keys())
  # Mocked or freshly imported builders may list no splits; try 'test'.
  eval_split = next((s for s in EVAL_SPLITS if s in available), 'test')

  def convert(example):
    image = example[image_key]
    if grayscale and image.shape[-1] == 3:
      image = tf.image.rgb_to_grayscale(image)
    if image_size is not None:
      image = images_lib.resize(image, image_size)
    return image, tf.cast(example[label_key], tf.int32)

  arrays = []
  for split in ('train', eval_split):
    try:
      dataset = dataset_builder.as_dataset(split=split, shuffle_files=False)
    except (AssertionError, ValueError) as error:
      raise UsageError(
          f'TFDS dataset {name} (split {split}) is not prepared in '
          f'{data_dir or tfds.core.constants.DATA_DIR} ({first_line(error)}). '
          'This program never downloads. Prepare it offline: python -m '
          f'r_lstm.import_arrays --name={name} --npz=ARRAYS.npz '
          '--data_dir=DIR, or copy a prepared TFDS directory from a machine '
          'with network; then set data_dir=DIR',
          fields=('data_dir',)) from None
    images, labels = [], []
    for image_batch, label_batch in tfds.as_numpy(
        dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(1024)):
      images.append(image_batch)
      labels.append(label_batch)
    if not images:
      raise UsageError(f'TFDS dataset {name}: split {split} in '
                       f'{dataset_builder.data_dir} is empty')
    arrays += [np.concatenate(images), np.concatenate(labels)]
  return ImageSplits(*arrays, test_split_name=eval_split,
                     num_classes=info.features[label_key].num_classes)
