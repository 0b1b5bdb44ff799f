"""Stop training at the next update boundary on SIGINT or SIGTERM.

Schedulers and preemptible machines send SIGTERM, a user presses Ctrl-C;
either way the run should save what it has and say so. A Python signal
handler runs only when the main thread returns to the interpreter, which
it does not while a `tf.function` of many updates runs. So the C-level
handler's wakeup byte (`signal.set_wakeup_fd`) is read by a watcher thread
that sets a flag the training loop reads before every update (TensorFlow
releases the GIL while it runs the loop). The loop then ends after the
update in progress, the outer loop saves a checkpoint and raises
`errors.Interrupted`.

`tf.distribute.experimental.PreemptionCheckpointHandler` is not used: it
serves multi-worker clusters through a cluster resolver, saves on its own
schedule of `run` calls rather than at the update the signal arrived, and
on one machine without a cluster it only watches SIGTERM.

A second signal of either kind ends the process at once, with one line
and exit code 128 + signal number, for a user who does not want to wait
for the update.
"""

import os
import signal
import threading
from typing import Callable, Sequence

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignals:
  """While active, the first of `signals` calls `request_stop(signum)` from
  a watcher thread; a second one ends the process.

  Does nothing outside the main thread (Python installs signal handlers
  only there).
  """

  def __init__(self, request_stop: Callable[[int], None],
               signals: Sequence[int] = STOP_SIGNALS):
    self._request_stop = request_stop
    self._signals = tuple(signals)
    self._previous_handlers = {}
    self._previous_wakeup = -1
    self._pipe = None
    self._watcher = None
    self._ending = threading.Lock()
    self.received = 0

  def __enter__(self) -> 'StopOnSignals':
    if (not self._signals
        or threading.current_thread() is not threading.main_thread()):
      return self
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    self._pipe = (read_end, write_end)
    self._previous_wakeup = signal.set_wakeup_fd(write_end,
                                                 warn_on_full_buffer=False)
    for number in self._signals:
      self._previous_handlers[number] = signal.signal(number, self._handle)
    self._watcher = threading.Thread(target=self._watch, daemon=True,
                                     name='stop-on-signals')
    self._watcher.start()
    return self

  def _handle(self, number, frame):
    """Main-thread handler: the watcher has already asked the loop to stop;
    a second signal ends the process."""
    del frame
    if self.received:
      self._end_now(number)
    self.received = number

  def _end_now(self, number):
    """Ends the process with one line, whichever thread sees the second
    signal first (the lock is never released: os._exit follows)."""
    self._ending.acquire()
    os.write(2, (f'r_lstm.train: stopped: a second '
                 f'{signal.Signals(number).name} ended training at once, '
                 'without saving; run the same command again to resume from '
                 'the newest complete checkpoint\n').encode())
    os._exit(128 + number)  # pylint: disable=protected-access

  def _watch(self):
    """First signal: ask the loop to stop. Second: end the process now
    (the main thread may be inside a long TensorFlow call, where its own
    handler cannot run)."""
    read_end = self._pipe[0]
    stopping = False
    while True:
      try:
        data = os.read(read_end, 1)
      except OSError:
        return
      if not data:
        return
      number = data[0]
      if number not in self._signals:
        continue
      if stopping:
        self._end_now(number)
      stopping = True
      self._request_stop(number)

  def __exit__(self, *exc_info):
    if self._pipe is None:
      return
    for number, handler in self._previous_handlers.items():
      signal.signal(number, handler)
    signal.set_wakeup_fd(self._previous_wakeup)
    read_end, write_end = self._pipe
    os.close(write_end)
    self._watcher.join(timeout=5)
    os.close(read_end)
    self._pipe = None
