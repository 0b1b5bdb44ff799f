"""What the command-line entry points share: turning a UsageError (bad
input) or a NonFiniteError (training diverged) into one clear line on stderr
and a non-zero exit."""

import functools
import sys

from r_lstm.configs import NonFiniteError, UsageError

USAGE_EXIT_CODE = 2
NONFINITE_EXIT_CODE = 3


def usage_errors_exit(program: str):
  """Decorates an absl `main` so that a UsageError or NonFiniteError ends
  it in one line."""
  def decorate(main):
    @functools.wraps(main)
    def wrapped(argv):
      try:
        return main(argv)
      except UsageError as error:
        print(f'{program}: error: {error}', file=sys.stderr)
        sys.exit(USAGE_EXIT_CODE)
      except NonFiniteError as error:
        print(f'{program}: error: {error}', file=sys.stderr)
        sys.exit(NONFINITE_EXIT_CODE)
    return wrapped
  return decorate
