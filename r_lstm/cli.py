"""What the command-line entry points share: a UsageError (bad input), a
NonFiniteError (training diverged) or an Interrupted (stopped by a signal
after saving) turned into one clear line on stderr and a non-zero exit,
and Python logging at WARNING unless --verbosity is given. `run` starts a
tool: absl's flag parsing, except that a flag mistake is one line and exit
2 like every other input mistake, and --help / --helpfull put the
project's flags first. It imports no TensorFlow: a tool imports
`r_lstm.quiet_tensorflow` before the modules that do."""

import functools
import signal
import sys
from typing import Callable, Optional

from absl import app
from absl import flags
from absl import logging

from r_lstm import errors
from r_lstm.errors import Interrupted, NonFiniteError, PeerLost, UsageError

USAGE_EXIT_CODE = 2
NONFINITE_EXIT_CODE = 3
PEER_LOST_EXIT_CODE = 4
# The machine refused a read or a write (errors.environment_fault).
ENVIRONMENT_EXIT_CODE = 5
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
      except Exception as error:  # pylint: disable=broad-except
        fault = errors.environment_fault(error)
        if fault is None:
          raise
        if not isinstance(error, errors.EnvironmentFault):
          fault += ('; nothing half-written was left (every output is '
                    'written to a temporary name and renamed)')
        print(f'{program}: error: {fault}', file=sys.stderr)
        sys.exit(ENVIRONMENT_EXIT_CODE)
      except KeyboardInterrupt:
        # Ctrl-C outside training (while loading data, say): nothing new
        # was made, so there is nothing to save.
        print(f'{program}: stopped: interrupted by SIGINT; nothing was '
              'saved', file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT_BASE + signal.SIGINT)
    wrapped.program = program
    return wrapped
  return decorate


_HELP_FLAGS = ('--help', '-help', '-h', '-?', '--helpshort', '--helpfull')


def _is_project_module(module: str) -> bool:
  return 'r_lstm' in module


def _module_help(module: str, program: str) -> str:
  """absl's help for the flags of `module`, the main module (absl names
  it by its file) called `program`."""
  text = flags.FLAGS.module_help(module).strip()
  return text.replace(f'{module}:', f'{program}:', 1) if '/' in module else text


def _help_text(program: str, full: bool,
               config_help: Optional[Callable[[], str]]) -> str:
  """The tool's flags, then (`config_help`) the config flags with the
  values this command line would run with, then, when `full`, every other
  module's flags (absl, TensorFlow, TFDS)."""
  by_module = flags.FLAGS.flags_by_module_dict()
  own = sorted(module for module in by_module if _is_project_module(module)
               and not (config_help and module.endswith(' section')))
  parts = [_module_help(module, program) for module in own]
  if config_help:
    parts.append(config_help())
  if full:
    others = sorted(module for module in by_module
                    if not _is_project_module(module))
    parts.append('Flags of absl, TensorFlow and TFDS:\n\n' + '\n\n'.join(
        flags.FLAGS.module_help(module) for module in others))
  return '\n\n'.join(parts)


def _flags_parser(program: str, config_help: Optional[Callable[[], str]]):
  """absl's parser with r_lstm's conventions: a flag mistake (an unknown
  flag, with absl's "did you mean"; a value of the wrong type) ends in one
  line and exit 2, and help lists the project's flags first, after every
  other flag of the command line is read (so --preset=demo --helpfull shows
  demo's values)."""
  def parse(argv):
    wanted = [arg for arg in argv[1:] if arg.split('=')[0] in _HELP_FLAGS]
    rest = [argv[0]] + [arg for arg in argv[1:] if arg not in wanted]
    try:
      remaining = flags.FLAGS(rest)
      if wanted:
        print(_help_text(program, '--helpfull' in wanted, config_help))
        sys.exit(0)
    except flags.Error as error:
      print(f'{program}: error: {error}', file=sys.stderr)
      sys.exit(USAGE_EXIT_CODE)
    except UsageError as error:
      print(f'{program}: error: {error.as_flags()}', file=sys.stderr)
      sys.exit(USAGE_EXIT_CODE)
    return remaining
  return parse


def run(main, config_help: Optional[Callable[[], str]] = None) -> None:
  """Runs `main` (decorated by `usage_errors_exit`) as absl's `app.run`
  does, with `_flags_parser`'s conventions; `config_help` renders the
  config flags for --help once the flags are parsed."""
  app.run(main, flags_parser=_flags_parser(main.program, config_help))


def require_flags(*names: str) -> None:
  """Raises UsageError naming the first of the flags `names` left unset."""
  for name in names:
    if not flags.FLAGS[name].value:
      raise UsageError(f'--{name} is required')
