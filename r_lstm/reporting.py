"""The one place metrics leave the training loop: TensorBoard, a metrics
file and the terminal."""

import json
import os
import platform
import sys
import time
from typing import Dict, TextIO

import numpy as np
import tensorflow as tf

from r_lstm import workdir as workdir_lib
from r_lstm.workdir import METRICS_FILE

HOST_SPLIT = 'host'  # metrics.jsonl rows describing the machine of a start.


def machine_description() -> str:
  """CPU model and count, accelerators and TensorFlow version, one line."""
  cpu = platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  gpus = tf.config.list_physical_devices('GPU')
  accelerators = f', {len(gpus)} GPU' if gpus else ', no GPU'
  return (f'{os.cpu_count()} x {cpu}{accelerators}, TensorFlow '
          f'{tf.__version__}')


class Reporter:
  """Writes scalars to TensorBoard and `metrics.jsonl`, and shows progress.

  Every call to `write` appends one JSON line {"step", "split", name: value}
  to `<workdir>/metrics.jsonl` (the file later tooling reads) and writes the
  same scalars as TensorBoard summaries under `<split>/<name>`. Training
  rows also print a progress line with steps/s and the time left.
  """

  def __init__(self, workdir: str, total_steps: int,
               stream: TextIO = sys.stdout):
    self._writer = tf.summary.create_file_writer(workdir)
    self._metrics_path = os.path.join(workdir, METRICS_FILE)
    self._total_steps = total_steps
    self._stream = stream
    self._last_time = None
    self._last_step = None

  def write_host(self, step: int) -> None:
    """Records the machine this (re)start runs on, for reports."""
    with open(self._metrics_path, 'a') as f:
      f.write(json.dumps({'step': step, 'split': HOST_SPLIT,
                          'description': machine_description()}) + '\n')

  def discard_after(self, step: int) -> None:
    """Drops metrics rows of steps after `step` (logged by a run that was
    killed before its next checkpoint; a resumed run redoes those steps).

    The file is rewritten atomically; TensorBoard events are append-only
    and keep both.
    """
    if not os.path.exists(self._metrics_path):
      return
    # Bytes that are not UTF-8 (a torn or foreign line) become U+FFFD and
    # their line fails to parse: it is dropped like a torn one.
    with open(self._metrics_path, encoding='utf-8', errors='replace') as f:
      lines = f.readlines()
    kept = [line for line in lines if _step_of(line) is not None
            and _step_of(line) <= step]
    if len(kept) != len(lines):
      workdir_lib.write_atomically(self._metrics_path, ''.join(kept))

  def logged_steps(self, split: str) -> set:
    """The steps of the rows of `split` in the metrics file."""
    if not os.path.exists(self._metrics_path):
      return set()
    steps = set()
    with open(self._metrics_path, encoding='utf-8', errors='replace') as f:
      for line in f:
        try:
          row = json.loads(line)
        except ValueError:
          continue
        if isinstance(row, dict) and row.get('split') == split:
          steps.add(row.get('step'))
    return steps

  def start(self, step: int) -> None:
    """Marks the wall-clock origin for steps/s (after restore/compile)."""
    self._last_time, self._last_step = time.monotonic(), step

  def write(self, step: int, split: str, scalars: Dict[str, float]) -> None:
    scalars = {name: float(value) for name, value in scalars.items()}
    if split == 'train':
      scalars.update(self._speed(step))
    with self._writer.as_default(step=step):
      for name, value in scalars.items():
        tf.summary.scalar(f'{split}/{name}', value)
    self._writer.flush()
    with open(self._metrics_path, 'a') as f:
      f.write(json.dumps({'step': step, 'split': split, **scalars}) + '\n')
    self._print(step, split, scalars)

  def write_images(self, step: int, images: Dict[str, np.ndarray]) -> None:
    """Writes uint8 image batches (N, H, W, C) as TensorBoard images."""
    with self._writer.as_default(step=step):
      for name, batch in images.items():
        tf.summary.image(name, batch, max_outputs=len(batch))
    self._writer.flush()

  def _speed(self, step: int) -> Dict[str, float]:
    now = time.monotonic()
    elapsed = now - self._last_time
    steps_per_sec = (step - self._last_step) / elapsed if elapsed > 0 else 0.0
    self._last_time, self._last_step = now, step
    return {'steps_per_sec': steps_per_sec}

  def _print(self, step: int, split: str, scalars: Dict[str, float]) -> None:
    parts = [f'{split:5s} step {step}/{self._total_steps}']
    for name, value in scalars.items():
      shown = int(value) if value.is_integer() else f'{value:.4g}'
      parts.append(f'{name} {shown}')
    rate = scalars.get('steps_per_sec')
    if rate:
      parts.append(f'ETA {_duration((self._total_steps - step) / rate)}')
    print(' | '.join(parts), file=self._stream, flush=True)


def _step_of(line: str):
  """The step of a metrics row; None for a torn or empty line."""
  try:
    return json.loads(line)['step']
  except (ValueError, KeyError, TypeError):
    return None


def segment_images(tokens: np.ndarray, steps: np.ndarray,
                   predicted: np.ndarray, image_shape) -> np.ndarray:
  """Original | prediction, side by side, for image sequences.

  Args:
    tokens: (N, T, C) uint8, the original sequences.
    steps: (L, N) positions of the predicted tokens.
    predicted: (L, N, C) predicted tokens.
    image_shape: (H, W, C) with H * W = T.

  Returns:
    uint8 (N, H, 2W + 1, C): the original; a white column; the original at
    a quarter of its brightness with the predicted segment drawn over it.
  """
  height, width, channels = image_shape
  rows = np.arange(tokens.shape[0])
  shown = tokens // 4
  shown[rows[np.newaxis, :], steps] = predicted
  shape = (tokens.shape[0], height, width, channels)
  separator = np.full((tokens.shape[0], height, 1, channels), 255, np.uint8)
  return np.concatenate([tokens.reshape(shape), separator,
                         shown.reshape(shape)], axis=2).astype(np.uint8)


def _duration(seconds: float) -> str:
  minutes, seconds = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}h{minutes:02d}m{seconds:02d}s' if hours else (
      f'{minutes}m{seconds:02d}s')
