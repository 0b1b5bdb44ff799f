"""The errors the library raises for its users.

The library names config fields (and arguments such as `workdir`) and paths
in its messages, as Python spells them; the command-line entry points
(`r_lstm.cli`) render them as flags, in one line with an exit code.
"""

import errno
import re
from typing import Optional, Sequence


class UsageError(ValueError):
  """A bad config field, argument, file or directory; the message says how
  to fix it.

  `fields` lists the config fields and arguments the message names: `str()`
  spells them as in Python (`bptt=-1`), `as_flags()` as on the command line
  (`--bptt=-1`).
  """

  def __init__(self, message: str, fields: Sequence[str] = ()):
    super().__init__(message)
    self.fields = tuple(fields)

  def __reduce__(self):
    return type(self), (str(self), self.fields)

  def as_flags(self) -> str:
    """The message with each of `fields` written as a flag where it stands
    as a word of its own: after a space, an opening bracket or a separator,
    not inside a path or another name."""
    text = str(self)
    for name in self.fields:
      text = re.sub(rf'(^|[\s(\[,;]){re.escape(name)}(?![\w/.-])',
                    rf'\1--{name}', text)
    return text


class NonFiniteError(RuntimeError):
  """Training produced a non-finite loss, gradient or weight; the message
  names the update and the last good checkpoint."""


class PeerLost(RuntimeError):
  """Another worker of a multi-worker run stopped answering mid-training;
  the message names the checkpoint that relaunching every worker resumes
  from."""


class Interrupted(RuntimeError):
  """Training stopped on a signal (SIGINT, SIGTERM) after saving a
  checkpoint at an update boundary; `signal_number` says which."""

  def __init__(self, message: str, signal_number: int):
    super().__init__(message)
    self.signal_number = signal_number


def first_line(error: Exception) -> str:
  """The first line of an exception's message (its type when empty), for
  one-line errors that quote a library's reason."""
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__


class EnvironmentFault(RuntimeError):
  """The machine refused a read or a write (a full disk, a read-only,
  forbidden or vanished path); the message names it and what was saved."""


# The OSError numbers that are the machine's refusal, not a bug; and the
# words TensorFlow's I/O errors carry for the same conditions.
ENVIRONMENT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES,
                      errno.EPERM, errno.ENOENT)
_TENSORFLOW_REASONS = ('No space left on device', 'Disk quota exceeded',
                       'Read-only file system', 'Permission denied')


def environment_fault(error: BaseException) -> Optional[str]:
  """One line saying what the machine refused, when `error` is an OSError
  with one of `ENVIRONMENT_ERRNOS` or a TensorFlow I/O error that wraps
  one; None for anything else (a bug keeps its traceback)."""
  if isinstance(error, EnvironmentFault):
    return str(error)
  if isinstance(error, OSError) and error.errno in ENVIRONMENT_ERRNOS:
    where = error.filename or ''
    return (f'{where}: {error.strerror}' if where
            else error.strerror or first_line(error))
  if type(error).__module__.startswith('tensorflow'):
    # Less the op's wrapping: '{{function_node ...}} PATH; REASON [Op:X]'.
    text = re.sub(r'\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\]', '',
                  first_line(error))
    if any(reason in text for reason in _TENSORFLOW_REASONS):
      return text[:400]
  return None
