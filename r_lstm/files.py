"""File access for everything a run writes and reads, on a local disk or on
any filesystem TensorFlow has (`gs://`, `s3://` and `hdfs://` where their
plugins are installed, `ram://`).

A path with a scheme (`gs://bucket/run`) goes through `tf.io.gfile`. A local
path keeps the operating system's calls, for two reasons: the checks that
run before TensorFlow loads need no TensorFlow, and a local disk gives what
object stores do not (a temporary file made with O_EXCL, atomic rename of a
directory, `flock`). Where a local guarantee has no remote equivalent, the
function says what it does instead.
"""

import glob as local_glob
import io
import os
import re
import shutil
import tempfile
import uuid
from typing import IO, List, Union

_SCHEME = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*://')


def is_url(path: str) -> bool:
  """Whether `path` names a file on a TensorFlow filesystem (has a scheme)."""
  return bool(_SCHEME.match(path))


def _gfile():
  """`tf.io.gfile`. TensorFlow is imported here, on the first URL, through
  `quiet_tensorflow`: a command-line tool may reach this before it has
  imported TensorFlow itself (`r_lstm.train` checks its workdir first)."""
  # pylint: disable=g-import-not-at-top,unused-import
  from r_lstm import quiet_tensorflow
  import tensorflow as tf
  return tf.io.gfile


def absolute(path: str) -> str:
  """`path` made absolute (URLs are)."""
  return path if is_url(path) else os.path.abspath(path)


def parent(path: str) -> str:
  """The directory holding `path` (`gs://b/run` for `gs://b/run/x`)."""
  return os.path.dirname(absolute(path).rstrip('/'))


def exists(path: str) -> bool:
  """Whether anything is at `path` (a dangling local symbolic link counts)."""
  return _gfile().exists(path) if is_url(path) else os.path.lexists(path)


def isdir(path: str) -> bool:
  return _gfile().isdir(path) if is_url(path) else os.path.isdir(path)


def isfile(path: str) -> bool:
  if is_url(path):
    return _gfile().exists(path) and not _gfile().isdir(path)
  return os.path.isfile(path)


def listdir(path: str) -> List[str]:
  """Names in the directory `path` (without trailing slashes)."""
  if is_url(path):
    return [name.rstrip('/') for name in _gfile().listdir(path)]
  return os.listdir(path)


def glob(pattern: str) -> List[str]:
  if is_url(pattern):
    return _gfile().glob(pattern)
  return local_glob.glob(pattern)


def makedirs(path: str) -> None:
  if is_url(path):
    _gfile().makedirs(path)
  else:
    os.makedirs(path, exist_ok=True)


def remove(path: str) -> None:
  """Deletes the file (or directory tree) at `path`."""
  if is_url(path):
    if _gfile().isdir(path):
      _gfile().rmtree(path)
    else:
      _gfile().remove(path)
  elif os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path)
  else:
    os.unlink(path)


def modified_time(path: str) -> float:
  """Seconds since the epoch of the last change (0 where a filesystem keeps
  no times, as `ram://`)."""
  if is_url(path):
    return _gfile().stat(path).mtime_nsec / 1e9
  return os.path.getmtime(path)


def open_binary(path: str, mode: str = 'rb') -> IO[bytes]:
  """`open(path, mode)` in a binary mode, on every filesystem (seekable
  when read, as `numpy.load` needs)."""
  return _gfile().GFile(path, mode) if is_url(path) else open(path, mode)


def read_text(path: str) -> str:
  """The file's text. Bytes that are not UTF-8 (a torn or foreign line)
  become U+FFFD, so a damaged file still reads."""
  with open_binary(path) as f:
    return f.read().decode('utf-8', errors='replace')


def read_lines(path: str) -> List[str]:
  """The file's lines with their newlines, split at '\\n' only (JSON Lines:
  other line breaks inside a damaged line stay in it), decoded as in
  `read_text`."""
  return io.StringIO(read_text(path), newline='\n').readlines()


def append_text(path: str, text: str) -> None:
  """Adds `text` at the end of `path` (made if missing). Object stores have
  no append: TensorFlow rewrites the object with the text added."""
  if is_url(path):
    with _gfile().GFile(path, 'ab') as f:
      f.write(text.encode('utf-8'))
  else:
    with open(path, 'a', encoding='utf-8') as f:
      f.write(text)


def current_umask() -> int:
  """The process's umask (reading it means setting it: it is set back at
  once), for files made with private modes that should get the usual ones."""
  mask = os.umask(0)
  os.umask(mask)
  return mask


def write_atomically(path: str, data: Union[str, bytes]) -> None:
  """Replaces `path` with `data` (text or bytes) all at once.

  Locally the data goes to a new temporary file made with O_EXCL in the
  same directory (`tempfile.mkstemp`), so that no pre-placed file or
  symbolic link is ever written through, then replaces `path` by rename.
  On a TensorFlow filesystem it goes to a uniquely named temporary object
  that is then renamed over `path` (one object replaced as a whole, which
  is what object stores give).
  """
  binary = data if isinstance(data, bytes) else data.encode('utf-8')
  if is_url(path):
    directory, name = os.path.split(path)
    temporary = os.path.join(directory, f'.{name}.{uuid.uuid4().hex}.tmp')
    try:
      with _gfile().GFile(temporary, 'wb') as f:
        f.write(binary)
      _gfile().rename(temporary, path, overwrite=True)
    except BaseException:
      if _gfile().exists(temporary):
        _gfile().remove(temporary)
      raise
    return
  directory, name = os.path.split(os.path.abspath(path))
  descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f'.{name}.',
                                           suffix='.tmp')
  try:
    os.fchmod(descriptor, 0o666 & ~current_umask())  # mkstemp makes it 0600.
    with os.fdopen(descriptor, 'wb') as f:
      f.write(binary)
    os.replace(temporary, path)
  except BaseException:
    if os.path.lexists(temporary):
      os.unlink(temporary)
    raise


def copy_tree(source: str, destination: str, last: str) -> None:
  """Copies the local directory `source` to the new `destination` (on any
  filesystem), the file named `last` after every other one; on failure
  what was copied is removed again.

  Object stores cannot rename a directory at once, so a tree is published
  there by copying; a reader that takes the presence of `last` as the mark
  of a complete tree never sees a half-copied one.
  """
  relative_paths = []
  for directory, _, names in os.walk(source):
    relative_paths += [os.path.relpath(os.path.join(directory, name), source)
                       for name in names]
  try:
    for relative in sorted(relative_paths, key=lambda name: name == last):
      target = os.path.join(destination, relative)
      makedirs(parent(target))
      _gfile().copy(os.path.join(source, relative), target, overwrite=True)
  except BaseException:
    if exists(destination):
      remove(destination)
    raise
