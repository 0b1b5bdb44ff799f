"""A run's directory: its layout, its one writer, safe writes, and
checkpoint recovery.

A workdir holds `config.json`, `metrics.jsonl`, `permutation.npy` (pMNIST),
TensorBoard event files, `checkpoints/` and `.lock`. Everything here is
checked before a run writes its first byte (`check_writable`,
`check_readable`), so that a wrong path ends in one line with nothing
touched.

One workdir has one writer: `Lock` holds an exclusive `fcntl.flock` on the
workdir for the life of the training process. The kernel drops the lock
when its process dies, however it dies, so a stale lock of a killed run is
never in the way; a second trainer is refused with the holder's PID.
`evaluate` and `report` only read and take no lock.
"""

import errno
import fcntl
import glob
import os
import re
import shutil
import tempfile
from typing import List, Optional, Union

from r_lstm.errors import UsageError

CONFIG_FILE = 'config.json'
CHECKPOINT_DIR = 'checkpoints'
METRICS_FILE = 'metrics.jsonl'
PERMUTATION_FILE = 'permutation.npy'
LOCK_FILE = '.lock'
# TensorBoard runs of a workdir: training and evaluation curves share tag
# names, so TensorBoard overlays them (the workdir itself holds the run's
# config and hyperparameters).
TRAIN_EVENTS_DIR = 'train'
EVAL_EVENTS_DIR = 'eval'
# The index file TensorFlow keeps in the checkpoint directory.
CHECKPOINT_STATE = 'checkpoint'
# The entries a run writes, and whether each is a directory.
LAYOUT = {CONFIG_FILE: False, METRICS_FILE: False, PERMUTATION_FILE: False,
          LOCK_FILE: False, CHECKPOINT_DIR: True, TRAIN_EVENTS_DIR: True,
          EVAL_EVENTS_DIR: True}
# The longest name a run writes inside its workdir, with room for a
# six-digit update number: checkpoints/ckpt-100000.data-00000-of-00001.
LONGEST_INSIDE = len(os.path.join(CHECKPOINT_DIR,
                                  'ckpt-100000_temp/part-00000-of-00001'
                                  '.data-00000-of-00001.tempstate0000000000'))


def _describe(error: OSError) -> str:
  return error.strerror or type(error).__name__


def _check_path(workdir: str) -> str:
  """The absolute path of `workdir` after checking its name and that it is
  (or can become) a directory; UsageError otherwise."""
  if not workdir:
    raise UsageError('workdir is required: a directory for checkpoints, '
                     'summaries and the run config',
                     fields=('workdir',))
  path = os.path.abspath(workdir)
  name_max = os.pathconf('/', 'PC_NAME_MAX')
  for part in path.split(os.sep):
    if len(os.fsencode(part)) > name_max:
      raise UsageError(f'workdir: the name {part[:40]}... has '
                       f'{len(os.fsencode(part))} bytes; a file name may '
                       f'have at most {name_max}',
                       fields=('workdir',))
  path_max = os.pathconf('/', 'PC_PATH_MAX')
  if len(os.fsencode(path)) + LONGEST_INSIDE + 1 > path_max:
    raise UsageError(f'workdir is {len(os.fsencode(path))} bytes long; '
                     f'the files inside it would pass the {path_max}-byte '
                     'path limit: use a shorter path',
                     fields=('workdir',))
  try:
    os.stat(path)
  except (FileNotFoundError, NotADirectoryError):
    pass  # Made later; its nearest existing ancestor is checked below.
  except OSError as error:
    if error.errno == errno.ELOOP:
      raise UsageError(f'workdir={workdir} is a symbolic link loop',
                       fields=('workdir',)) from None
    raise UsageError(f'workdir={workdir}: {_describe(error)}',
                     fields=('workdir',)) from None
  if os.path.lexists(path) and not os.path.isdir(path):
    if os.path.islink(path) and not os.path.exists(path):
      raise UsageError(f'workdir={workdir} is a symbolic link to nothing',
                       fields=('workdir',))
    raise UsageError(f'workdir={workdir} is a file, not a directory; '
                     'pass a new or existing directory',
                     fields=('workdir',))
  # The nearest existing ancestor must be a directory: a run cannot be made
  # under a regular file.
  ancestor = path
  while not os.path.lexists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if not os.path.isdir(ancestor):
    raise UsageError(f'workdir={workdir}: {ancestor} is a file, so no '
                     'directory can be made under it',
                     fields=('workdir',))
  return path


def check_writable(workdir: str) -> None:
  """Raises UsageError unless a run can write everything it writes in
  `workdir`: the path is a directory or can be made one, every entry of
  the layout that exists has the right kind, and new files can be made
  (tried for real: permission bits do not bind root)."""
  path = _check_path(workdir)
  for name, is_directory in LAYOUT.items():
    entry = os.path.join(path, name)
    if not os.path.lexists(entry):
      continue
    if is_directory != os.path.isdir(entry) or (
        not is_directory and not os.path.isfile(entry)):
      kind = 'a directory' if is_directory else 'a regular file'
      raise UsageError(f'{entry} must be {kind}; move it away or use a new '
                       'workdir',
                       fields=('workdir',))
    if not is_directory and not os.access(entry, os.W_OK):
      raise UsageError(f'{entry} is not writable')
  existing = path
  while not os.path.isdir(existing):
    existing = os.path.dirname(existing)
  targets = [existing]
  checkpoints = os.path.join(path, CHECKPOINT_DIR)
  if os.path.isdir(checkpoints):
    targets.append(checkpoints)
  for target in targets:
    try:
      with tempfile.TemporaryFile(dir=target):
        pass
    except OSError as error:
      raise UsageError(f'workdir={workdir}: cannot write in {target} '
                       f'({_describe(error)}); pass a writable '
                       'directory',
                       fields=('workdir',)) from None


def check_readable(workdir: str) -> None:
  """Raises UsageError unless `workdir` is a directory holding a run's
  config that can be read (nothing needs to be writable)."""
  path = _check_path(workdir)
  config = os.path.join(path, CONFIG_FILE)
  if not os.path.isdir(path) or not os.path.lexists(config):
    raise UsageError(f'{workdir} holds no run ({CONFIG_FILE} is missing); '
                     'train with r_lstm.train first')
  if not os.path.isfile(config) or not os.access(config, os.R_OK):
    raise UsageError(f'{config} is not a readable file')


def is_run(directory: str) -> bool:
  """Whether `directory` holds a run (its config file)."""
  return os.path.lexists(os.path.join(directory, CONFIG_FILE))


def check_output_file(path: str, flag: str) -> None:
  """Raises UsageError unless `path` can be written as a new or replaced
  file that is not inside a run's workdir (tools that read runs never
  write into them)."""
  absolute = os.path.abspath(path)
  if os.path.isdir(absolute):
    raise UsageError(f'{flag}={path} is a directory; pass a file path',
                     fields=(flag,))
  parent = os.path.dirname(absolute)
  ancestor = parent
  while not os.path.lexists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if not os.path.isdir(ancestor):
    raise UsageError(f'{flag}={path}: {ancestor} is a file', fields=(flag,))
  if os.path.isdir(parent) and is_run(parent):
    raise UsageError(f'{flag}={path} is inside the run directory {parent}; '
                     'write reports elsewhere', fields=(flag,))
  try:
    with tempfile.TemporaryFile(dir=ancestor):
      pass
  except OSError as error:
    raise UsageError(f'{flag}={path}: cannot write in {ancestor} '
                     f'({_describe(error)})', fields=(flag,)) from None


def current_umask() -> int:
  """The process's umask (reading it means setting it: it is set back at
  once), for files made with private modes that should get the usual ones."""
  mask = os.umask(0)
  os.umask(mask)
  return mask


def write_atomically(path: str, text: Union[str, bytes]) -> None:
  """Replaces `path` with `text` (or bytes) all at once.

  The text goes to a new temporary file made with O_EXCL in the same
  directory (`tempfile.mkstemp`), so that no pre-placed file or symbolic
  link is ever written through, then replaces `path` by rename.
  """
  directory, name = os.path.split(os.path.abspath(path))
  descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f'.{name}.',
                                           suffix='.tmp')
  try:
    os.fchmod(descriptor, 0o666 & ~current_umask())  # mkstemp makes it 0600.
    with os.fdopen(descriptor, 'wb' if isinstance(text, bytes) else 'w') as f:
      f.write(text)
    os.replace(temporary, path)
  except BaseException:
    if os.path.lexists(temporary):
      os.unlink(temporary)
    raise


class Lock:
  """The exclusive writer's lock of a workdir, held until `release` or the
  process ends.

  The lock is an `fcntl.flock` on the workdir directory itself, so taking
  it writes nothing (a refused run leaves the workdir as it was); the
  holder then records its PID in `.lock` for the message a second trainer
  gets.
  """

  def __init__(self, workdir: str):
    self.workdir = workdir
    self._descriptor = None

  @property
  def held(self) -> bool:
    return self._descriptor is not None

  def acquire(self) -> None:
    """Takes the lock of an existing workdir; UsageError naming the holder
    when another process has it. Idempotent."""
    if self.held:
      return
    descriptor = os.open(self.workdir, os.O_RDONLY | os.O_DIRECTORY)
    try:
      fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      os.close(descriptor)
      raise UsageError(
          f'{self.workdir} is being trained by another process (PID '
          f'{_recorded_pid(self.workdir)}); one run directory takes one '
          'trainer: wait for it, stop it, or use another workdir',
          fields=('workdir',)) from None
    self._descriptor = descriptor

  def record_holder(self) -> None:
    """Writes this process's PID to `.lock` (the lock must be held)."""
    write_atomically(os.path.join(self.workdir, LOCK_FILE), f'{os.getpid()}\n')

  def release(self) -> None:
    if self.held:
      fcntl.flock(self._descriptor, fcntl.LOCK_UN)
      os.close(self._descriptor)
      self._descriptor = None


def _recorded_pid(workdir: str) -> str:
  try:
    with open(os.path.join(workdir, LOCK_FILE)) as f:
      return f.read().strip() or 'unknown'
  except OSError:
    return 'unknown'


def holder(workdir: str) -> Optional[str]:
  """PID of the process training in `workdir` (as recorded), or None when
  none is."""
  try:
    descriptor = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
  except OSError:
    return None
  try:
    fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
  except BlockingIOError:
    return _recorded_pid(workdir)
  finally:
    os.close(descriptor)
  return None


_CHECKPOINT_DATA = re.compile(r'^(ckpt-(\d+))\.data-\d+-of-(\d+)$')


def complete_checkpoints(directory: str) -> List[str]:
  """Prefixes of the checkpoints in `directory` whose index and every data
  shard exist, oldest first (TensorFlow renames them into place only
  when written, so these are whole)."""
  if not os.path.isdir(directory):
    return []
  shards = {}
  for name in os.listdir(directory):
    match = _CHECKPOINT_DATA.match(name)
    if match:
      shards.setdefault((int(match.group(2)), match.group(1),
                         int(match.group(3))), set()).add(name)
  complete = []
  for (number, prefix, count), names in sorted(shards.items()):
    if (len(names) == count
        and os.path.isfile(os.path.join(directory, f'{prefix}.index'))):
      complete.append(os.path.join(directory, prefix))
  return complete


def remove_leftovers(directory: str) -> List[str]:
  """Deletes what a run killed mid-save leaves in its checkpoint
  directory (`ckpt-N_temp/` and `checkpoint.tmp*`); returns their names."""
  removed = []
  state = os.path.join(directory, CHECKPOINT_STATE)
  for path in (glob.glob(os.path.join(directory, 'ckpt-*_temp'))
               + glob.glob(f'{state}.tmp*')):
    if os.path.isdir(path) and not os.path.islink(path):
      shutil.rmtree(path)
    else:
      os.unlink(path)
    removed.append(os.path.basename(path))
  return sorted(removed)


def write_checkpoint_state(directory: str, checkpoints: List[str]) -> None:
  """Rewrites TensorFlow's `checkpoint` state file to list `checkpoints`
  (prefixes, oldest first; the last is the latest).

  The file is a text-format `CheckpointState` proto. Each entry gets its
  index file's time, and the preserved-before time lies before them all,
  so `tf.train.CheckpointManager` deletes them in turn as it keeps
  `max_to_keep`.
  """
  times = [os.path.getmtime(f'{c}.index') for c in checkpoints]
  names = [os.path.basename(c) for c in checkpoints]
  lines = [f'model_checkpoint_path: "{names[-1]}"']
  lines += [f'all_model_checkpoint_paths: "{name}"' for name in names]
  lines += [f'all_model_checkpoint_timestamps: {time!r}' for time in times]
  lines.append(f'last_preserved_timestamp: {min(times) - 1!r}')
  write_atomically(os.path.join(directory, CHECKPOINT_STATE),
                   '\n'.join(lines) + '\n')
