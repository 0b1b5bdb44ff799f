"""The errors the library raises for its users.

The library names config fields (and arguments such as `workdir`) and paths
in its messages, as Python spells them; the command-line entry points
(`r_lstm.cli`) render them as flags, in one line with an exit code.
"""

import re
from typing import Sequence


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
