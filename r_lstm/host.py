"""What this machine has free, read without TensorFlow: the memory checks
of a run (`memory`) and of an image resize (`images`) ask it."""

import os
from typing import Optional


def available_bytes() -> Optional[int]:
  """MemAvailable of /proc/meminfo, or the physical memory; None if
  neither can be read."""
  try:
    with open('/proc/meminfo') as f:
      for line in f:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  try:
    return os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
  except (OSError, ValueError):
    return None
