"""A run's directory: its layout, its one writer, safe writes, and
checkpoint recovery.

A workdir holds `config.json`, `metrics.jsonl`, `permutation.npy` (pMNIST),
TensorBoard event files, `checkpoints/` and `.lock`. Everything here is
checked before a run writes its first byte (`check_writable`,
`check_readable`), so that a wrong path ends in one line with nothing
touched.

A workdir may be a local path or a URL of a TensorFlow filesystem
(`gs://bucket/run`): every access goes through `r_lstm.files`. One workdir
has one writer (`r_lstm.locks`); `evaluate` and `report` only read and take
no lock.
"""

import errno
import os
import re
import tempfile
import uuid
from typing import List, Optional

from r_lstm import configs, files
from r_lstm.errors import UsageError, first_line
from r_lstm.locks import LOCK_FILE

CONFIG_FILE = 'config.json'
CHECKPOINT_DIR = 'checkpoints'
METRICS_FILE = 'metrics.jsonl'
PERMUTATION_FILE = 'permutation.npy'
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
  if files.is_url(workdir):
    return _check_url(workdir)
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


def _check_url(workdir: str) -> str:
  """`workdir` after checking that TensorFlow has its filesystem and that
  it is a directory or nothing yet (object stores have no ancestors to
  check: a directory is any prefix)."""
  try:
    is_file = files.exists(workdir) and not files.isdir(workdir)
  except Exception as error:  # TensorFlow's OpError: no such filesystem...
    raise UsageError(f'workdir={workdir}: {first_line(error)}',
                     fields=('workdir',)) from None
  if is_file:
    raise UsageError(f'workdir={workdir} is a file, not a directory; '
                     'pass a new or existing directory',
                     fields=('workdir',))
  return workdir


def _cannot_write_in(directory: str) -> str:
  """Why no new file can be made in `directory` ('' when one can), tried
  for real: permission bits do not bind root, and object stores have
  none to read."""
  try:
    if files.is_url(directory):
      probe = os.path.join(directory, f'.write-probe-{uuid.uuid4().hex}')
      files.write_atomically(probe, b'')
      files.remove(probe)
    else:
      with tempfile.TemporaryFile(dir=directory):
        pass
  except OSError as error:
    return _describe(error)
  except Exception as error:  # TensorFlow's OpError.
    return first_line(error)
  return ''


def check_writable(workdir: str) -> None:
  """Raises UsageError unless a run can write everything it writes in
  `workdir`: the path is a directory or can be made one, every entry of
  the layout that exists has the right kind, and new files can be made
  (tried for real: permission bits do not bind root)."""
  path = _check_path(workdir)
  for name, is_directory in LAYOUT.items():
    entry = os.path.join(path, name)
    if not files.exists(entry):
      continue
    if is_directory != files.isdir(entry) or (
        not is_directory and not files.isfile(entry)):
      kind = 'a directory' if is_directory else 'a regular file'
      raise UsageError(f'{entry} must be {kind}; move it away or use a new '
                       'workdir',
                       fields=('workdir',))
    if (not is_directory and not files.is_url(entry)
        and not os.access(entry, os.W_OK)):
      raise UsageError(f'{entry} is not writable')
  existing = path
  while not files.is_url(existing) and not os.path.isdir(existing):
    existing = os.path.dirname(existing)
  targets = [existing]
  checkpoints = os.path.join(path, CHECKPOINT_DIR)
  if files.isdir(checkpoints):
    targets.append(checkpoints)
  for target in targets:
    reason = _cannot_write_in(target)
    if reason:
      raise UsageError(f'workdir={workdir}: cannot write in {target} '
                       f'({reason}); pass a writable directory',
                       fields=('workdir',))


def check_readable(workdir: str) -> None:
  """Raises UsageError unless `workdir` is a directory holding a run's
  config that can be read (nothing needs to be writable)."""
  path = _check_path(workdir)
  config = os.path.join(path, CONFIG_FILE)
  if not files.isdir(path) or not files.exists(config):
    raise UsageError(f'{workdir} holds no run ({CONFIG_FILE} is missing); '
                     'train with r_lstm.train first')
  if not files.isfile(config) or not (files.is_url(config)
                                      or os.access(config, os.R_OK)):
    raise UsageError(f'{config} is not a readable file')


def is_run(directory: str) -> bool:
  """Whether `directory` holds a run (its config file)."""
  return files.exists(os.path.join(directory, CONFIG_FILE))


def read_saved_config(workdir: str) -> Optional[configs.Config]:
  """The config a run saved in `workdir`, or None when there is none."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not files.exists(path):
    return None
  try:
    with files.open_binary(path) as f:
      text = f.read().decode('utf-8')
  except (OSError, UnicodeDecodeError) as error:
    reason = getattr(error, 'strerror', None) or first_line(error)
    raise UsageError(f'cannot read {path}: {reason}') from None
  return configs.Config.from_json(text, source=path)


def check_output_file(path: str, flag: str) -> None:
  """Raises UsageError unless `path` can be written as a new or replaced
  file that is not inside a run's workdir (tools that read runs never
  write into them)."""
  if files.isdir(path):
    raise UsageError(f'{flag}={path} is a directory; pass a file path',
                     fields=(flag,))
  parent = files.parent(path)
  ancestor = parent
  while not files.is_url(ancestor) and not os.path.lexists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if files.isfile(ancestor):
    raise UsageError(f'{flag}={path}: {ancestor} is a file', fields=(flag,))
  if files.isdir(parent) and is_run(parent):
    raise UsageError(f'{flag}={path} is inside the run directory {parent}; '
                     'write reports elsewhere', fields=(flag,))
  reason = _cannot_write_in(ancestor)
  if reason:
    raise UsageError(f'{flag}={path}: cannot write in {ancestor} '
                     f'({reason})', fields=(flag,))


_CHECKPOINT_DATA = re.compile(r'^(ckpt-(\d+))\.data-\d+-of-(\d+)$')


def complete_checkpoints(directory: str) -> List[str]:
  """Prefixes of the checkpoints in `directory` whose index and every data
  shard exist, oldest first (TensorFlow renames them into place only
  when written, so these are whole)."""
  if not files.isdir(directory):
    return []
  shards = {}
  for name in files.listdir(directory):
    match = _CHECKPOINT_DATA.match(name)
    if match:
      shards.setdefault((int(match.group(2)), match.group(1),
                         int(match.group(3))), set()).add(name)
  complete = []
  for (number, prefix, count), names in sorted(shards.items()):
    if (len(names) == count
        and files.isfile(os.path.join(directory, f'{prefix}.index'))):
      complete.append(os.path.join(directory, prefix))
  return complete


def remove_leftovers(directory: str) -> List[str]:
  """Deletes what a run killed mid-save leaves in its checkpoint
  directory (`ckpt-N_temp/` and `checkpoint.tmp*`); returns their names."""
  removed = []
  state = os.path.join(directory, CHECKPOINT_STATE)
  for path in (files.glob(os.path.join(directory, 'ckpt-*_temp'))
               + files.glob(f'{state}.tmp*')):
    files.remove(path)
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
  times = [files.modified_time(f'{c}.index') for c in checkpoints]
  names = [os.path.basename(c) for c in checkpoints]
  lines = [f'model_checkpoint_path: "{names[-1]}"']
  lines += [f'all_model_checkpoint_paths: "{name}"' for name in names]
  lines += [f'all_model_checkpoint_timestamps: {time!r}' for time in times]
  lines.append(f'last_preserved_timestamp: {min(times) - 1!r}')
  files.write_atomically(os.path.join(directory, CHECKPOINT_STATE),
                   '\n'.join(lines) + '\n')
