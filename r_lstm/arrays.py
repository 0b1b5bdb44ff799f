"""Numeric arrays from .npz files, read safely: never unpickled, and an
array whose header declares more bytes than the file holds is refused
before it is allocated. No TensorFlow."""

import os
import zipfile

import numpy as np

from r_lstm import errors
from r_lstm.errors import UsageError

NPZ_KEYS = ('x_train', 'y_train', 'x_test', 'y_test')
NPZ_LENGTH_KEYS = ('len_train', 'len_test')


# Labels and tokens become int32 tensors: larger values would wrap.
MAX_INT32 = 2 ** 31 - 1


def read_npz(path: str):
  """{key: array} of a keras-layout .npz (x_train, y_train, x_test, y_test,
  optionally len_train, len_test); never unpickles (`read_arrays`)."""
  return read_arrays(path, NPZ_KEYS, NPZ_LENGTH_KEYS,
                     hint='; pass dataset=npz:PATH with a keras-layout .npz '
                     '(x_train, y_train, x_test, y_test)', fields=('dataset',))


def read_arrays(path: str, required, optional=(), hint: str = '',
                fields=()):
  """{key: array} of the `required` and present `optional` arrays of an
  .npz; never unpickles. `hint` ends the message of a missing file, which
  names the config `fields` that gave the path.

  Each array's header is read before its data: an array that declares
  more bytes than its member of the archive holds (a damaged or forged
  header) is refused without allocating it.
  """
  if not os.path.isfile(path):
    raise UsageError(f'npz file {path!r} does not exist{hint}',
                     fields=fields)
  try:
    with zipfile.ZipFile(path) as archive:
      members = {info.filename[:-len('.npy')]: info
                 for info in archive.infolist()
                 if info.filename.endswith('.npy')}
      missing = set(required) - set(members)
      if missing:
        raise UsageError(f'{path} lacks arrays {sorted(missing)}; it needs '
                         f'{", ".join(required)}')
      return {key: _read_member(archive, members[key], f'{path}: {key}')
              for key in (*required, *optional) if key in members}
  except (OSError, ValueError, EOFError, zipfile.BadZipFile,
          zipfile.LargeZipFile) as error:
    if isinstance(error, UsageError):
      raise
    raise UsageError(f'{path} is not a readable .npz file (a zip archive of '
                     f'.npy arrays): {errors.first_line(error)}') from None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                 where: str) -> np.ndarray:
  with archive.open(info) as f:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
      shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    else:
      shape, _, dtype = np.lib.format.read_array_header_2_0(f)
  if dtype.hasobject:
    raise UsageError(f'{where} holds Python objects; arrays must be numeric')
  declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
  if declared > info.file_size:
    raise UsageError(f'{where} declares {shape} {dtype} ({declared:,} bytes) '
                     f'but holds {info.file_size:,} bytes: the file is '
                     'damaged')
  with archive.open(info) as f:
    return np.lib.format.read_array(f, allow_pickle=False)


def check_int32(values: np.ndarray, where: str) -> None:
  """Checks the range on the original dtype, before any cast to int32."""
  if values.size and values.max() > MAX_INT32:
    raise UsageError(f'{where} has a value {values.max()} above {MAX_INT32}; '
                     'labels and tokens must fit int32')
