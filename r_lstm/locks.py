"""One writer per workdir: the lock a trainer holds for its whole life.

On a local disk the lock is an `fcntl.flock` on the workdir directory. The
kernel drops it when its process dies, however it dies, so a killed run's
lock is never in the way, and taking it writes nothing. The holder records
its PID in `.lock` only for the message a second trainer gets.

On a TensorFlow filesystem (`gs://`, `ram://`, ...) there is no `flock`,
so `.lock` itself is the lock, a lease kept alive by its holder:
- it holds the holder's host, PID, a random token and the time it was
  last renewed; the holder renews it every `RENEW_SECONDS` from a thread,
  and deletes it when it releases the lock;
- a trainer takes the lock when there is no `.lock`, or the one there is
  stale: its process has ended (same host), or it has not been renewed for
  `STALE_SECONDS` (another host, or a machine that was switched off);
- after writing its own `.lock` it reads it back and keeps the lock only
  if its token is there, so of two trainers starting together one wins.
A run killed on another host thus keeps its workdir locked for up to
`STALE_SECONDS`; a second trainer in that time is refused with the
holder's host and PID, as on a local disk.
"""

import errno
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from typing import Optional

from r_lstm import files
from r_lstm.errors import UsageError

LOCK_FILE = '.lock'
RENEW_SECONDS = 60.0
STALE_SECONDS = 600.0


def _refusal(workdir: str, holder_name: str) -> UsageError:
  return UsageError(
      f'{workdir} is being trained by another process ({holder_name}); one '
      'run directory takes one trainer: wait for it, stop it, or use '
      'another workdir',
      fields=('workdir',))


class Lock:
  """The exclusive writer's lock of a workdir, held until `release` or the
  process ends: `flock` on a local disk, a lease file elsewhere."""

  def __init__(self, workdir: str):
    self.workdir = workdir
    self._lease = _Lease(workdir) if files.is_url(workdir) else None
    self._descriptor = None

  @property
  def held(self) -> bool:
    if self._lease:
      return self._lease.held
    return self._descriptor is not None

  def acquire(self) -> None:
    """Takes the lock of an existing workdir; UsageError naming the holder
    when another process has it. Idempotent."""
    if self._lease:
      self._lease.acquire()
      return
    if self.held:
      return
    descriptor = os.open(self.workdir, os.O_RDONLY | os.O_DIRECTORY)
    try:
      fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      os.close(descriptor)
      raise _refusal(self.workdir,
                     f'PID {_recorded_pid(self.workdir)}') from None
    self._descriptor = descriptor

  def record_holder(self) -> None:
    """Writes this process as the holder to `.lock` (the lock must be
    held)."""
    if self._lease:
      self._lease.renew()
    else:
      files.write_atomically(os.path.join(self.workdir, LOCK_FILE),
                             f'{os.getpid()}\n')

  def release(self) -> None:
    if self._lease:
      self._lease.release()
    elif self.held:
      fcntl.flock(self._descriptor, fcntl.LOCK_UN)
      os.close(self._descriptor)
      self._descriptor = None


def _recorded_pid(workdir: str) -> str:
  try:
    return files.read_text(os.path.join(workdir, LOCK_FILE)).strip() or (
        'unknown')
  except OSError:
    return 'unknown'


def holder(workdir: str) -> Optional[str]:
  """Who is training in `workdir` ('PID 12' locally, 'PID 12 on host h'
  elsewhere), or None when no one is."""
  if files.is_url(workdir):
    lease = _read_lease(workdir)
    return _describe(lease) if lease and _is_live(lease) else None
  try:
    descriptor = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
  except OSError:
    return None
  try:
    fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
  except BlockingIOError:
    return f'PID {_recorded_pid(workdir)}'
  finally:
    os.close(descriptor)
  return None


def _read_lease(workdir: str) -> Optional[dict]:
  """The lease in `workdir`'s `.lock`, or None when there is none or it
  is not one (a torn write counts as no lease)."""
  path = os.path.join(workdir, LOCK_FILE)
  if not files.exists(path):
    return None
  try:
    lease = json.loads(files.read_text(path))
  except ValueError:
    return None
  needed = {'host': str, 'pid': int, 'token': str, 'renewed': float}
  if not isinstance(lease, dict) or not all(
      isinstance(lease.get(name), kind) for name, kind in needed.items()):
    return None
  return lease


def _is_live(lease: dict) -> bool:
  if lease['host'] == socket.gethostname():
    try:
      os.kill(lease['pid'], 0)
    except OSError as error:
      return error.errno == errno.EPERM  # Alive, another user's.
    return True
  return time.time() - lease['renewed'] < STALE_SECONDS


def _describe(lease: dict) -> str:
  return f"PID {lease['pid']} on host {lease['host']}"


class _Lease:
  """The lock of a workdir on a filesystem without `flock` (module doc)."""

  def __init__(self, workdir: str):
    self._path = os.path.join(workdir, LOCK_FILE)
    self._workdir = workdir
    self._token = uuid.uuid4().hex
    self._stop = None
    self._renewer = None

  @property
  def held(self) -> bool:
    return self._renewer is not None

  def acquire(self) -> None:
    if self.held:
      return
    lease = _read_lease(self._workdir)
    if lease and lease['token'] != self._token and _is_live(lease):
      raise _refusal(self._workdir, _describe(lease))
    self.renew()
    lease = _read_lease(self._workdir)
    if not lease or lease['token'] != self._token:
      raise _refusal(self._workdir,
                     _describe(lease) if lease else 'starting together')
    self._stop = threading.Event()
    self._renewer = threading.Thread(target=self._keep_renewed, daemon=True,
                                     name='r_lstm-lock-renewer')
    self._renewer.start()

  def renew(self) -> None:
    files.write_atomically(self._path, json.dumps({
        'host': socket.gethostname(), 'pid': os.getpid(),
        'token': self._token, 'renewed': time.time()}) + '\n')

  def _keep_renewed(self) -> None:
    while not self._stop.wait(RENEW_SECONDS):
      try:
        self.renew()
      except Exception:  # pylint: disable=broad-except
        pass  # A missed renewal is retried; the lease lasts ten of them.

  def release(self) -> None:
    if not self.held:
      return
    self._stop.set()
    self._renewer.join()
    self._renewer = None
    lease = _read_lease(self._workdir)
    if lease and lease['token'] == self._token:
      files.remove(self._path)
