"""A run's checkpoints: the model and optimizer under `workdir/checkpoints`.

The outer loop (`train_lib`) owns them, as Orbit's controller owns its
`CheckpointManager`: the trainer only updates weights, and what is on disk,
what a kill mid-save leaves behind and which checkpoint a run resumes from
are decided here.
"""

import os
from typing import List, Optional

import numpy as np
import tensorflow as tf

from r_lstm import errors, files
from r_lstm import workdir as workdir_lib
from r_lstm.errors import NonFiniteError, UsageError


class RunCheckpoints:
  """The checkpoints of one model and its optimizer in `directory`.

  A checkpoint holds `tf.train.Checkpoint(model=, optimizer=)`; the update
  count is the optimizer's `iterations`, so a restored run knows its step
  (and its phase) from the checkpoint alone.
  """

  def __init__(self, model, optimizer, directory: str, max_to_keep: int,
               restore_from: Optional[str] = None):
    """Saves in `directory`; restores from `restore_from` (default:
    `directory`), the chief's checkpoints when this process is another
    worker of a cluster, which saves in a scratch directory of its own."""
    self._model = model
    self._optimizer = optimizer
    self.directory = directory
    self.restore_from = restore_from or directory
    self._max_to_keep = max_to_keep
    self._checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    self._manager = self._new_manager()
    self.saved_step: Optional[int] = None  # The newest checkpoint's update.
    self.restored: Optional[str] = None  # The checkpoint `restore` read.

  def _new_manager(self) -> tf.train.CheckpointManager:
    return tf.train.CheckpointManager(self._checkpoint, self.directory,
                                      max_to_keep=self._max_to_keep)

  @property
  def latest(self) -> Optional[str]:
    """The newest checkpoint this manager knows, or None."""
    return self._manager.latest_checkpoint

  @property
  def kept(self) -> List[str]:
    """The checkpoints kept on disk, oldest first."""
    return list(self._manager.checkpoints)

  def restore(self) -> bool:
    """Restores the newest complete checkpoint on disk, if any; True when
    one was found. Reads only.

    The newest complete checkpoint is found by listing the directory, not
    by trusting TensorFlow's `checkpoint` state file, which a kill or a
    user can leave missing or naming files that were moved away. Files of
    checkpoints that are never complete stop the run rather than let it
    start from scratch over them.
    """
    complete = workdir_lib.complete_checkpoints(self.restore_from)
    if not complete:
      strays = self._stray_files()
      if strays:
        raise UsageError(
            f'{self.restore_from} holds checkpoint files ({strays}) but no '
            'complete checkpoint; not starting from scratch over them: move '
            'them away to start anew, or use a new workdir',
            fields=('workdir',))
      return False
    latest = complete[-1]
    try:
      self._checkpoint.restore(latest).assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, IndexError, KeyError,
            TypeError, ValueError) as error:
      reason = errors.first_line(error)[:300]
      fallback = (f'resume from {os.path.basename(complete[-2])}'
                  if len(complete) > 1 else 'start from scratch')
      raise UsageError(
          f'checkpoint {latest} cannot be restored into this model '
          f'({reason}); it is damaged or from another architecture. Move '
          f'{os.path.basename(latest)}.* out of {self.restore_from} to '
          f'{fallback}, or use a new workdir',
          fields=('workdir',)) from None
    self.saved_step = int(self._optimizer.iterations.numpy())
    self.restored = latest
    return True

  def _stray_files(self) -> str:
    if not files.isdir(self.restore_from):
      return ''
    names = sorted(name for name in files.listdir(self.restore_from)
                   if name.startswith('ckpt-') and not name.endswith('_temp'))
    return ', '.join(names[:3]) + (', ...' if len(names) > 3 else '')

  def tidy(self) -> None:
    """Deletes what a kill mid-save leaves behind and makes the `checkpoint`
    state file list the complete checkpoints on disk (needs the workdir's
    lock)."""
    removed = workdir_lib.remove_leftovers(self.directory)
    if removed:
      print(f'Removed unfinished checkpoint files {", ".join(removed)}.',
            flush=True)
    complete = workdir_lib.complete_checkpoints(self.directory)
    state = tf.train.get_checkpoint_state(self.directory)
    listed = [] if state is None else [
        os.path.basename(p) for p in state.all_model_checkpoint_paths]
    if complete and listed != [os.path.basename(c) for c in complete]:
      workdir_lib.write_checkpoint_state(self.directory, complete)
      self._manager = self._new_manager()

  def save(self) -> str:
    """Saves a checkpoint of the current update; refuses non-finite weights.

    TensorFlow writes the checkpoint's files first and then replaces the
    `checkpoint` index file atomically, so a run killed mid-save resumes
    from the previous checkpoint.
    """
    step = int(self._optimizer.iterations.numpy())
    for variable in self._model.variables + self._optimizer.variables:
      if not np.all(np.isfinite(variable.numpy())):
        raise NonFiniteError(
            f'{variable.path} is not finite at update {step}; not saving '
            f'it. Last good checkpoint: {self.latest}')
    path = self._manager.save(checkpoint_number=step)
    self.saved_step = step
    return path
