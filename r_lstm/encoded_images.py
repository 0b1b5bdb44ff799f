"""Encoded-image arrays (one JPEG or PNG file per image, concatenated) made
into the keras-layout arrays every image path of r_lstm reads.

The layout is the one `../shared/datasets/cifar10_jpeg.npz` uses:
`jpeg_<split>` (uint8, the files' bytes one after another), `offsets_<split>`
(int64, N + 1 boundaries: image i is bytes offsets[i]:offsets[i + 1]) and
`y_<split>`, for the splits train and test. A lossy file format decodes
slightly differently in different decoders, so the images are decoded once,
with Pillow, and the result records which decoder made it and the SHA-256
of every array in and out: a comparison then keeps to one decoding.
"""

import hashlib
import io
import json
import os
from typing import Dict

import numpy as np

from r_lstm import files
from r_lstm import arrays as arrays_lib
from r_lstm.errors import UsageError

SPLITS = ('train', 'test')


def array_sha256(array: np.ndarray) -> str:
  """SHA-256 of an array's raw bytes (the pin the datasets' README uses)."""
  return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def decode_split(data: np.ndarray, offsets: np.ndarray,
                 where: str) -> np.ndarray:
  """uint8 images [N, H, W, 3] from the concatenated files of one split."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if (offsets.ndim != 1 or len(offsets) < 2 or offsets[0] != 0
      or offsets[-1] != len(data) or np.any(np.diff(offsets) <= 0)):
    raise UsageError(f'{where}: offsets must rise from 0 to the byte count '
                     f'({len(data):,}), one more than the images')
  images = []
  for i in range(len(offsets) - 1):
    encoded = data[offsets[i]:offsets[i + 1]].tobytes()
    try:
      with Image.open(io.BytesIO(encoded)) as image:
        images.append(np.array(image.convert('RGB')))
    except (OSError, ValueError) as error:
      raise UsageError(f'{where}: image {i} does not decode: '
                       f'{error}') from None
    if images[-1].shape != images[0].shape:
      raise UsageError(f'{where}: image {i} is {images[-1].shape}, image 0 '
                       f'{images[0].shape}; all must have one size')
  return np.stack(images)


def decode_npz(source: str, output: str) -> Dict[str, object]:
  """Decodes `source` (the encoded layout) into a keras-layout `output`
  .npz (x_train, y_train, x_test, y_test) and writes `<output>.json`, the
  record of how it was made; returns that record."""
  import PIL  # pylint: disable=g-import-not-at-top
  if not output.endswith('.npz'):
    raise UsageError(f'--output={output} must end in .npz')
  arrays = arrays_lib.read_arrays(
      source, [f'{kind}_{split}' for split in SPLITS
               for kind in ('jpeg', 'offsets', 'y')])
  decoded = {}
  for split in SPLITS:
    data, offsets = arrays[f'jpeg_{split}'], arrays[f'offsets_{split}']
    labels = arrays[f'y_{split}']
    if data.dtype != np.uint8 or data.ndim != 1:
      raise UsageError(f'{source}: jpeg_{split} must be a 1-D uint8 array of '
                       'file bytes')
    decoded[f'x_{split}'] = decode_split(data, offsets.astype(np.int64),
                                         f'{source}: jpeg_{split}')
    if labels.ndim != 1 or len(labels) != len(decoded[f'x_{split}']):
      raise UsageError(f'{source}: y_{split} must hold one label per image')
    decoded[f'y_{split}'] = labels
  record = {
      'source': os.path.abspath(source),
      'decoder': f'Pillow {PIL.__version__}: '
                 'np.array(Image.open(io.BytesIO(bytes)).convert("RGB"))',
      'source_sha256': {key: array_sha256(value)
                        for key, value in sorted(arrays.items())},
      'sha256': {key: array_sha256(value)
                 for key, value in sorted(decoded.items())},
      'shapes': {key: list(value.shape) for key, value in
                 sorted(decoded.items())},
  }
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  arrays_file = io.BytesIO()
  np.savez(arrays_file, **decoded)
  files.write_atomically(output, arrays_file.getvalue())
  files.write_atomically(f'{output}.json',
                         json.dumps(record, indent=1) + '\n')
  return record
