"""The compiled step loops (`r_lstm/kernels/*.cc`): built on first use,
loaded once, or None where they cannot be.

A kernel is compiled for this machine's CPU (`-march=native`) against the
installed TensorFlow's headers (`tf.sysconfig`), into a cache directory
(`$R_LSTM_KERNEL_CACHE`, else `~/.cache/r_lstm/kernels`) under a name that
hashes everything the binary depends on: the source, TensorFlow's version
and flags, the compiler and the CPU. So a build happens once per machine
and TensorFlow, a changed source or an upgraded TensorFlow builds anew,
and a cache shared between different CPUs keeps one binary per CPU.

Where no C++ compiler is found or the build fails, `load` returns None
and says why once (absl logging, WARNING); the caller then runs the
TensorFlow loops (`r_lstm.sequence`), which compute the same values to 1e-5.
"""

import functools
import hashlib
import os
import pathlib
import platform
import shutil
import subprocess
import tempfile
import threading
from typing import Optional

from absl import logging
import tensorflow as tf

KERNELS = pathlib.Path(__file__).parent / 'kernels'
CACHE_VARIABLE = 'R_LSTM_KERNEL_CACHE'
# Element-wise products and sums are rounded one by one, as TensorFlow's own
# kernels do (no fused multiply-add contraction); the matmuls use FMA.
OPTIMIZATION = ('-O3', '-march=native', '-ffp-contract=off')
FALLBACK = ('the recurrent step loops run as TensorFlow loops (slower; '
            'the same values to 1e-5)')


def cache_dir() -> pathlib.Path:
  return pathlib.Path(os.environ.get(CACHE_VARIABLE) or
                      pathlib.Path.home() / '.cache' / 'r_lstm' / 'kernels')


def _cpu() -> str:
  """What -march=native compiles for: the CPU's model and feature flags."""
  try:
    lines = pathlib.Path('/proc/cpuinfo').read_text().splitlines()
  except OSError:
    return platform.processor() or platform.machine()
  wanted = ('model name', 'flags', 'Features', 'CPU part')
  return '\n'.join(sorted({line for line in lines
                           if line.split(':')[0].strip() in wanted}))


def _compiler() -> Optional[str]:
  return os.environ.get('CXX') or shutil.which('g++') or shutil.which('c++')


def _build_command(compiler: str, source: pathlib.Path,
                   output: pathlib.Path):
  return [compiler, '-std=c++17', '-shared', '-fPIC', *OPTIMIZATION,
          '-Wno-deprecated-declarations', *tf.sysconfig.get_compile_flags(),
          str(source), '-o', str(output), *tf.sysconfig.get_link_flags()]


def _version(compiler: str) -> str:
  try:
    return subprocess.run([compiler, '--version'], capture_output=True,
                          text=True, timeout=60, check=False).stdout
  except (OSError, subprocess.SubprocessError):
    return ''


_LOADING = threading.Lock()  # Replicas trace in threads of their own.


@functools.cache
def load(name: str):
  """The op module of `kernels/<name>.cc`, built if need be, or None (the
  reason logged once). A process loads one library per kernel: its ops
  cannot be registered twice."""
  with _LOADING:
    library = built_library(name)
    if library is None:
      return None
    try:
      return tf.load_op_library(str(library))
    except (tf.errors.NotFoundError, OSError) as error:
      logging.warning('Could not load %s (%s): %s.', library, error,
                      FALLBACK)
      return None


def built_library(name: str) -> Optional[pathlib.Path]:
  """The cached library of `kernels/<name>.cc` for this machine, built if
  it is not there yet; None (the reason logged) where it cannot be."""
  source = KERNELS / f'{name}.cc'
  compiler = _compiler()
  try:
    code = source.read_text()
  except OSError as error:
    logging.warning('Cannot read %s (%s): %s.', source, error.strerror,
                    FALLBACK)
    return None
  if compiler is None:
    logging.warning('No C++ compiler (g++, or $CXX) found: %s.', FALLBACK)
    return None
  key = hashlib.sha256('\n'.join([
      code, tf.__version__,
      ' '.join(_build_command(compiler, pathlib.Path(f'{name}.cc'),
                              pathlib.Path(f'{name}.so'))),
      _version(compiler), _cpu()]).encode()).hexdigest()[:16]
  library = cache_dir() / f'{name}-{key}.so'
  if not library.exists():
    try:
      _build(compiler, source, library)
    except (OSError, subprocess.SubprocessError) as error:
      logging.warning('Could not build %s (%s): %s.', source,
                      _reason(error), FALLBACK)
      return None
  return library


def _reason(error: Exception) -> str:
  """The line of a failed build that says why: its first error line."""
  lines = str(error).strip().splitlines() or [repr(error)]
  return next((line for line in lines if 'error' in line), lines[-1])[:500]


def _build(compiler: str, source: pathlib.Path,
           library: pathlib.Path) -> None:
  """Compiles into a temporary file beside `library`, then renames it into
  place, so that processes building at once never load half a file."""
  library.parent.mkdir(parents=True, exist_ok=True)
  handle, partial = tempfile.mkstemp(dir=library.parent, suffix='.so.partial')
  os.close(handle)
  try:
    result = subprocess.run(
        _build_command(compiler, source, pathlib.Path(partial)),
        capture_output=True, text=True, timeout=600, check=False)
    if result.returncode:
      raise subprocess.SubprocessError(result.stderr or result.stdout or
                                       f'exit status {result.returncode}')
    os.replace(partial, library)
  finally:
    if os.path.exists(partial):
      os.remove(partial)
