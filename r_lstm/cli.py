"""What the command-line entry points share: TensorFlow imported without
its start-up notices, a UsageError (bad input), a NonFiniteError (training
diverged) or an Interrupted (stopped by a signal after saving) turned into
one clear line on stderr and a non-zero exit, and Python logging at WARNING
unless --verbosity is given. Every entry point imports this module before
any other r_lstm module."""

import functools
import signal
import sys

from absl import flags
from absl import logging

from r_lstm import startup

startup.import_tensorflow(verbose=startup.verbosity_requested(sys.argv))

# pylint: disable=g-import-not-at-top,wrong-import-position
from r_lstm.errors import Interrupted, NonFiniteError, PeerLost, UsageError

USAGE_EXIT_CODE = 2
NONFINITE_EXIT_CODE = 3
PEER_LOST_EXIT_CODE = 4
# Stopped by a signal after saving: 128 + the signal number, the shell's
# convention (130 for SIGINT, 143 for SIGTERM).
INTERRUPTED_EXIT_BASE = 128


def usage_errors_exit(program: str):
  """Decorates an absl `main` so that a UsageError, NonFiniteError,
  PeerLost or Interrupted ends it in one line."""
  def decorate(main):
    @functools.wraps(main)
    def wrapped(argv):
      if not flags.FLAGS['verbosity'].present:
        # TensorFlow's INFO lines (one per checkpoint written) are not
        # for users; --verbosity=0 brings them back.
        logging.set_verbosity(logging.WARNING)
      try:
        return main(argv)
      except UsageError as error:
        print(f'{program}: error: {error.as_flags()}', file=sys.stderr)
        sys.exit(USAGE_EXIT_CODE)
      except NonFiniteError as error:
        print(f'{program}: error: {error}', file=sys.stderr)
        sys.exit(NONFINITE_EXIT_CODE)
      except PeerLost as error:
        print(f'{program}: error: {error}', file=sys.stderr)
        sys.exit(PEER_LOST_EXIT_CODE)
      except Interrupted as error:
        print(f'{program}: stopped: {error}', file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT_BASE + error.signal_number)
      except KeyboardInterrupt:
        # Ctrl-C outside training (while loading data, say): nothing new
        # was made, so there is nothing to save.
        print(f'{program}: stopped: interrupted by SIGINT; nothing was '
              'saved', file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT_BASE + signal.SIGINT)
    return wrapped
  return decorate


def require_flags(*names: str) -> None:
  """Raises UsageError naming the first of the flags `names` left unset."""
  for name in names:
    if not flags.FLAGS[name].value:
      raise UsageError(f'--{name} is required')
