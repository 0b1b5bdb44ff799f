"""TensorFlow's start-up notices, kept off the command line's stderr.

Importing TensorFlow 2.21 prints, from C++ and before any logging setting
applies (TF_CPP_MIN_LOG_LEVEL included), absl's "All log messages before
absl::InitializeLog()" warning and the oneDNN notice, each twice, and a
CPU-feature notice. None of them is about the user's run. The entry points
import TensorFlow through `import_tensorflow`, which captures file
descriptor 2 for the import and writes back every line but those notices;
`--verbosity` (or `-v`) on the command line keeps them. After `import
r_lstm`, TensorFlow's import drops them too, whoever imports it
(`r_lstm._AfterKerasImport`): the Python API's user sees none either.
"""

import importlib
import os
import re
import sys
import tempfile
from typing import Any, Callable, Sequence

NOTICES = re.compile(
    rb'WARNING: All log messages before absl::InitializeLog\(\) is called'
    rb'|port\.cc:\d+\] oneDNN custom operations are on'
    rb'|cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized'
    rb'|^To enable the following instructions: .*rebuild TensorFlow')


def verbosity_requested(argv: Sequence[str]) -> bool:
  """Whether the command line sets absl's --verbosity (or -v)."""
  return any(re.match(r'--?(verbosity|v)(=|$)', arg) for arg in argv[1:])


def without_notices(text: bytes) -> bytes:
  """`text` less the lines `NOTICES` matches."""
  return b''.join(line for line in text.splitlines(keepends=True)
                  if not NOTICES.search(line))


def import_tensorflow(verbose: bool) -> None:
  """Imports TensorFlow and Keras; unless `verbose`, their start-up
  notices are dropped and anything else they print is kept."""
  if verbose and importlib.import_module('r_lstm').QUIETED_TENSORFLOW:
    del os.environ['TF_CPP_MIN_LOG_LEVEL']
  if verbose or 'tensorflow' in sys.modules:
    importlib.import_module('tensorflow')
    return
  dropping_notices(lambda: [importlib.import_module(name)
                            for name in ('tensorflow', 'keras')])


def dropping_notices(load: Callable[[], Any]) -> Any:
  """`load()`'s result; file descriptor 2 is captured while it runs and
  everything written there but the `NOTICES` lines is written back."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      return load()
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      os.write(2, without_notices(captured.read()))
