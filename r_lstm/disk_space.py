"""Room on disk for what a tool is about to write, checked before it starts.

A full disk found at the first checkpoint costs the updates before it, and
a half-written file; `check_room` refuses at the start instead, with one
line (`errors.EnvironmentFault`, exit 5) saying how much is free and what
needs how much. The sizes are estimates of the files' contents (float32
weights, and two Adam slots per weight in a checkpoint); the filesystem's
own overhead and the small files beside them (metrics, summaries) are left
to the write-time handling of a full disk (`errors.environment_fault`).
Filesystems that report no free space (TensorFlow's `gs://` and other
object stores) are not checked.
"""

import os
import shutil
from typing import Optional

from r_lstm import files, memory
from r_lstm.errors import EnvironmentFault

# A checkpoint holds each weight and its two Adam slots.
CHECKPOINT_COPIES = 3
# An export holds the weights three times (measured: the SavedModel's
# variables file has two copies, the .keras file one) and its traced graphs
# (saved_model.pb: 0.14 MB for the tiny test model, 0.16 MB for the demo
# preset's r-LSTM).
EXPORT_COPIES = 3
EXPORT_GRAPHS_BYTES = 2 ** 20


def free_bytes(path: str) -> Optional[int]:
  """Bytes free for an unprivileged writer on the filesystem that holds
  (or will hold) `path`; None where that cannot be known."""
  if files.is_url(path):
    return None
  existing = os.path.abspath(path)
  while not os.path.isdir(existing):
    existing = os.path.dirname(existing)
  return shutil.disk_usage(existing).free


def size_text(count: int) -> str:
  for unit, scale in (('GB', 10 ** 9), ('MB', 10 ** 6), ('kB', 10 ** 3)):
    if count >= scale:
      return f'{count / scale:,.1f} {unit}'
  return f'{count} B'


def check_room(path: str, needed: int, what: str, advice: str) -> None:
  """Raises EnvironmentFault when the filesystem of `path` has less than
  `needed` bytes free for `what`."""
  free = free_bytes(path)
  if free is not None and free < needed:
    raise EnvironmentFault(
        f'{path}: not enough free space for {what}: '
        f'{size_text(free)} free, about {size_text(needed)} needed; '
        f'nothing was written. {advice}')


def check_checkpoint_room(config, weights: int, workdir: str,
                          complete: int) -> None:
  """Refuses a run of a model of `weights` whose workdir cannot hold the
  checkpoints it will add: up to `config.max_checkpoints` kept plus one
  being written, less the `complete` ones already there, and no more than
  it will save."""
  saves = config.train_steps // config.checkpoint_every + 1
  count = max(1, min(config.max_checkpoints + 1, saves) - complete)
  size = CHECKPOINT_COPIES * memory.FLOAT_BYTES * weights
  check_room(workdir, count * size,
             f'{count} checkpoint(s) of {size_text(size)} (max_checkpoints='
             f'{config.max_checkpoints} kept, and one being written)',
             'Free space there, lower --max_checkpoints, or use another '
             '--workdir.')


def export_bytes(weights: int) -> int:
  return EXPORT_COPIES * memory.FLOAT_BYTES * weights + EXPORT_GRAPHS_BYTES
