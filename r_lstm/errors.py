"""The errors the library raises for its users.

The library names config fields and paths in its messages; the command-line
entry points (`r_lstm.cli`) render them as one line and an exit code.
"""


class UsageError(ValueError):
  """A bad flag, file or directory; the message says how to fix it."""


class NonFiniteError(RuntimeError):
  """Training produced a non-finite loss, gradient or weight; the message
  names the update and the last good checkpoint."""


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
