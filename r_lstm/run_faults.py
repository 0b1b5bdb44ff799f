"""What ends a training run from outside it, as one error that names the
checkpoint to resume from: a lost worker of a cluster (`peers_answer`) and
the machine's refusal of a write (`environment_faults`). Both take the
loop's `train_lib.Run`."""

import contextlib
import re

import tensorflow as tf

from r_lstm import distribute, errors
from r_lstm import workdir as workdir_lib


# What a collective op raises on the workers left when one of them dies.
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.AbortedError,
               tf.errors.CancelledError, tf.errors.DeadlineExceededError)


@contextlib.contextmanager
def peers_answer(run):
  """Turns a lost worker of a multi-worker run into `PeerLost`, which
  names the checkpoint every worker resumes from when relaunched. Nothing
  is saved: the update in flight may be half applied."""
  try:
    yield
  except PEER_ERRORS as error:
    if not distribute.in_cluster(run.trainer.strategy):
      raise
    reason = next((line.strip() for line in str(error).splitlines()
                   if re.search(r'abort|peer|unavailable|deadline',
                                line, re.IGNORECASE)),
                  type(error).__name__)
    complete = workdir_lib.complete_checkpoints(run.checkpoints.restore_from)
    resume = (f'resumes from {complete[-1]}' if complete
              else 'starts from scratch (no checkpoint yet)')
    raise errors.PeerLost(
        f'a worker of the cluster stopped answering at update {run.step} '
        f'({reason[:200]}); relaunching every worker with the same command '
        f'{resume}') from None


@contextlib.contextmanager
def environment_faults(run):
  """Turns the machine's refusal of a write (a full disk, a read-only or
  vanished workdir) into `errors.EnvironmentFault`, which says what the
  workdir still holds: a write cut short leaves only what the next start
  discards (a temporary file, a checkpoint's `_temp` directory, a torn
  metrics line)."""
  try:
    yield
  except Exception as error:  # pylint: disable=broad-except
    fault = errors.environment_fault(error)
    if fault is None or isinstance(error, errors.EnvironmentFault):
      raise
    if run.workdir not in fault:
      fault = f'writing {run.workdir}: {fault}'
    complete = workdir_lib.complete_checkpoints(run.checkpoints.restore_from)
    saved = (f'the newest complete checkpoint is {complete[-1]}; once the '
             'cause is fixed, the same command resumes from it'
             if complete else 'no checkpoint was saved yet; once the cause '
             'is fixed, the same command starts the run')
    raise errors.EnvironmentFault(f'{fault}; {saved}') from None
