"""Images as pixel sequences: the resize, grey conversion and raster order
every image source shares (TFDS sets, .npz arrays, the offline digits), and
the memory check that refuses a resize before it allocates."""

from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from r_lstm import host
from r_lstm.errors import UsageError

FLOAT_BYTES = 4
# `pixel_sequences` resizes this many bytes of float32 output at a time:
# resizing a whole set at once holds several float32 copies of it (the
# resize, the rounding, the clip), which the allocator then keeps (MNIST at
# 128 x 128: 19 GB for 1 GB of uint8 pixels).
RESIZE_CHUNK_BYTES = 64 * 2 ** 20
RESIZE_COPIES = 4


def resize(images: tf.Tensor, size: int) -> tf.Tensor:
  """Area-resizes uint8 images (..., H, W, C) to size x size, as uint8."""
  resized = tf.image.resize(tf.cast(images, tf.float32), (size, size),
                            method='area')
  return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def check_resize_fits(num_images: int, size: int, channels: int,
                      available: Optional[int] = None) -> None:
  """Raises UsageError when the resized images (uint8, `size` x `size`) and
  one chunk's float32 working set (`pixel_sequences`) cannot fit in the
  free memory."""
  available = (available if available is not None
               else host.available_bytes())
  kept = num_images * size * size * channels
  working = RESIZE_COPIES * RESIZE_CHUNK_BYTES
  needed = kept + working
  if available is not None and needed > available:
    raise UsageError(
        f'image_size={size}: {num_images:,} images of {size}x{size} need '
        f'about {needed / 2 ** 30:,.1f} GiB, more than the '
        f'{available / 2 ** 30:,.1f} GiB free here',
        fields=('image_size',))


def pixel_tokens(images: tf.Tensor, image_size: Optional[int],
                 grayscale: bool) -> tf.Tensor:
  """uint8 images [N, H, W, C] -> uint8 tokens [N, H' * W', C'] in raster
  order: grey (`grayscale` and 3 channels), then area-resized to
  `image_size` when it differs. Graph ops only, on static or unknown shapes:
  the training data and the exported image endpoint share it."""
  images = tf.convert_to_tensor(images)
  channels = images.shape[-1]
  if grayscale and channels in (None, 3):
    grey = lambda: tf.image.rgb_to_grayscale(images)  # pylint: disable=unnecessary-lambda-assignment
    images = grey() if channels == 3 else tf.cond(
        tf.equal(tf.shape(images)[-1], 3), grey, lambda: images)
  if image_size is not None:
    same = tf.reduce_all(tf.equal(tf.shape(images)[1:3], image_size))
    images = tf.cond(same, lambda: images,
                     lambda: resize(images, image_size))
  shape = tf.shape(images)
  return tf.reshape(images, [shape[0], shape[1] * shape[2], shape[3]])


def pixel_sequences(images: np.ndarray, image_size: Optional[int],
                    grayscale: bool) -> Tuple[np.ndarray, Tuple[int, int, int]]:
  """uint8 images (N, H, W[, C]) -> (tokens (N, H' * W', C') in raster
  order, (H', W', C')) after the optional grey conversion and resize
  (`pixel_tokens`), a chunk of `RESIZE_CHUNK_BYTES` at a time into one
  uint8 array, the memory checked first."""
  if images.ndim == 3:
    images = images[..., np.newaxis]
  count, height, width, channels = images.shape
  if grayscale and channels == 3:
    channels = 1
  if image_size is not None and (height, width) != (image_size, image_size):
    check_resize_fits(count, image_size, channels)
    height = width = image_size
  tokens = np.empty([count, height * width, channels], np.uint8)
  chunk = max(1, RESIZE_CHUNK_BYTES // max(1, height * width * channels
                                               * FLOAT_BYTES))
  for start in range(0, count, chunk):
    tokens[start:start + chunk] = pixel_tokens(
        images[start:start + chunk], image_size, grayscale).numpy()
  return tokens, (height, width, channels)
