"""What the command-line entry points share: turning a UsageError into one
clear line on stderr and a non-zero exit."""

import functools
import sys

from r_lstm.configs import UsageError

USAGE_EXIT_CODE = 2


def usage_errors_exit(program: str):
  """Decorates an absl `main` so that a UsageError ends it in one line."""
  def decorate(main):
    @functools.wraps(main)
    def wrapped(argv):
      try:
        return main(argv)
      except UsageError as error:
        print(f'{program}: error: {error}', file=sys.stderr)
        sys.exit(USAGE_EXIT_CODE)
    return wrapped
  return decorate
