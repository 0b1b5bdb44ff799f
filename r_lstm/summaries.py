"""The one place metrics leave the training loop: TensorBoard, a metrics
file and the terminal."""

import json
import os
import platform
import sys
import time
from typing import Any, Dict, List, Optional, TextIO, Tuple

import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from r_lstm import files
from r_lstm import workdir as workdir_lib
from r_lstm.workdir import METRICS_FILE

HOST_SPLIT = 'host'  # metrics.jsonl rows describing the machine of a start.
# Scalars kept in metrics.jsonl but not drawn: the evaluation's example count
# is the same number at every step.
NOT_CURVES = ('examples',)


# /proc/cpuinfo flag -> the vector instructions oneDNN may choose kernels
# for, widest first.
VECTOR_EXTENSIONS = (('avx512f', 'AVX-512'), ('avx2', 'AVX2'),
                     ('avx', 'AVX'), ('sse4_2', 'SSE4.2'))


def machine_description() -> str:
  """CPU model and count, its widest vector extension, accelerators and
  TensorFlow version, one line. The vector extension is part of it because
  oneDNN picks its kernels by it: two CPUs of one model name can round
  differently."""
  cpu, flags = platform.machine(), set()
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name') and cpu == platform.machine():
          cpu = line.split(':', 1)[1].strip()
        elif line.startswith('flags') and not flags:
          flags = set(line.split(':', 1)[1].split())
  except OSError:
    pass
  extension = next((name for flag, name in VECTOR_EXTENSIONS
                    if flag in flags), None)
  if extension:
    cpu = f'{cpu} ({extension})'
  gpus = tf.config.list_physical_devices('GPU')
  accelerators = f', {len(gpus)} GPU' if gpus else ', no GPU'
  return (f'{os.cpu_count()} x {cpu}{accelerators}, TensorFlow '
          f'{tf.__version__}')


class Reporter:
  """Writes scalars to TensorBoard and `metrics.jsonl`, and shows progress.

  Every call to `write` appends one JSON line {"step", "split", name: value}
  to `<workdir>/metrics.jsonl` (the file later tooling reads) and writes the
  same scalars as TensorBoard summaries, the Keras way: training rows in the
  `train/` run, evaluation rows (validation or test split) in `eval/`,
  under the same tag names so that TensorBoard overlays them. Training rows
  also print a progress line with steps/s and the time left. The workdir's
  own events hold the config (text) and the hyperparameters (HParams
  dashboard), written by `write_config`.
  """

  def __init__(self, workdir: str, total_steps: int,
               stream: TextIO = sys.stdout):
    self._run_name = os.path.basename(os.path.normpath(workdir))
    self._run_writer = tf.summary.create_file_writer(workdir)
    self._writers = {
        'train': tf.summary.create_file_writer(
            os.path.join(workdir, workdir_lib.TRAIN_EVENTS_DIR)),
        'eval': tf.summary.create_file_writer(
            os.path.join(workdir, workdir_lib.EVAL_EVENTS_DIR))}
    self._metrics_path = os.path.join(workdir, METRICS_FILE)
    self._total_steps = total_steps
    self._stream = stream
    self._last_time = None
    self._last_step = None
    self._traced_interval = True

  def write_host(self, step: int) -> None:
    """Records the machine this (re)start runs on, for reports."""
    files.append_text(self._metrics_path, json.dumps(
        {'step': step, 'split': HOST_SPLIT,
         'description': machine_description()}) + '\n')

  def discard_after(self, step: int) -> None:
    """Drops metrics rows of steps after `step` (logged by a run that was
    killed before its next checkpoint; a resumed run redoes those steps).

    The file is rewritten atomically; TensorBoard events are append-only
    and keep both.
    """
    if not files.exists(self._metrics_path):
      return
    # Bytes that are not UTF-8 (a torn or foreign line) become U+FFFD and
    # their line fails to parse: it is dropped like a torn one.
    lines = files.read_lines(self._metrics_path)
    rows = [_metrics_row(line) for line in lines]
    kept = [line for line, row in zip(lines, rows)
            if row is not None and row['step'] <= step]
    if len(kept) != len(lines):
      files.write_atomically(self._metrics_path, ''.join(kept))

  def start(self, step: int) -> None:
    """Marks the wall-clock origin for steps/s (after restore, or after an
    evaluation). The next interval may include tracing, so it gives no
    time left."""
    self._last_time, self._last_step = time.monotonic(), step
    self._traced_interval = True

  def write_config(self, fields: Dict[str, Any], text: str) -> None:
    """The run's config as TensorBoard text and as HParams (a session
    named after the workdir, its metrics the eval/ and train/ scalars)."""
    values = {name: _hparam_value(value) for name, value in fields.items()}
    with self._run_writer.as_default(step=0):
      tf.summary.text('config', f'```\n{text}\n```')
      hparams_api.hparams(values, trial_id=self._run_name)
    self._run_writer.flush()

  def write(self, step: int, split: str, scalars: Dict[str, float],
            phase: str = '') -> None:
    """One row; `phase` (e.g. 'auxiliary-only') is shown on its line."""
    scalars = {name: float(value) for name, value in scalars.items()}
    if split == 'train':
      scalars.update(self._speed(step))
    writer = self._writers['train' if split == 'train' else 'eval']
    with writer.as_default(step=step):
      for name, value in scalars.items():
        if name not in NOT_CURVES:
          tf.summary.scalar(name, value)
    writer.flush()
    files.append_text(self._metrics_path, json.dumps(
        {'step': step, 'split': split, **scalars}) + '\n')
    self._print(step, split, scalars, phase)

  def write_images(self, step: int, images: Dict[str, np.ndarray]) -> None:
    """Writes uint8 image batches (N, H, W, C) as TensorBoard images (in
    the eval/ run: they are drawn at evaluations)."""
    writer = self._writers['eval']
    with writer.as_default(step=step):
      for name, batch in images.items():
        tf.summary.image(name, batch, max_outputs=len(batch))
    writer.flush()

  def _speed(self, step: int) -> Dict[str, float]:
    now = time.monotonic()
    elapsed = now - self._last_time
    steps_per_sec = (step - self._last_step) / elapsed if elapsed > 0 else 0.0
    self._last_time, self._last_step = now, step
    return {'steps_per_sec': steps_per_sec}

  def _print(self, step: int, split: str, scalars: Dict[str, float],
             phase: str) -> None:
    parts = [f'{split:5s} step {step}/{self._total_steps}'
             + (f' ({phase})' if phase else '')]
    for name, value in scalars.items():
      shown = int(value) if value.is_integer() else f'{value:.4g}'
      parts.append(f'{name} {shown}')
    rate = scalars.get('steps_per_sec')
    if split == 'train':
      parts.append(progress_bar(step, self._total_steps))
    if rate and not self._traced_interval:
      parts[-1] += f' ETA {_duration((self._total_steps - step) / rate)}'
    if rate is not None:
      # The first interval after `start` may include tracing: no ETA from it.
      self._traced_interval = False
    print(' | '.join(parts), file=self._stream, flush=True)


def read_metric_rows(path: str) -> Tuple[List[Dict[str, Any]], List[int]]:
  """The rows of a metrics file, and the numbers of its lines that are not
  one (undecodable bytes, not JSON, or no split and integer step): a killed
  run may leave a torn last line, a damaged file anything. No file: none."""
  rows, skipped = [], []
  if not files.exists(path):
    return rows, skipped
  for number, line in enumerate(files.read_lines(path), 1):
    row = _metrics_row(line)
    if row is None:
      skipped.append(number)
    else:
      rows.append(row)
  return rows, skipped


def logged_steps(workdir: str, split: str) -> set:
  """The steps of the rows of `split` in the workdir's metrics file (every
  worker of a cluster reads the chief's, to decide as it does)."""
  rows, _ = read_metric_rows(os.path.join(workdir, METRICS_FILE))
  return {row['step'] for row in rows if row['split'] == split}


def progress_bar(step: int, total: int, width: int = 20) -> str:
  """'[#####...............] 25%': the share of `total` updates done, as a
  bar that reads the same in a terminal and in a log file."""
  done = min(1.0, step / total) if total else 1.0
  filled = int(done * width)
  return f'[{"#" * filled}{"." * (width - filled)}] {int(done * 100)}%'


def _hparam_value(value):
  """A config value as HParams takes it: bool, int, float or str."""
  if isinstance(value, (bool, int, float, str)):
    return value
  if isinstance(value, (tuple, list)):
    return ','.join(str(v) for v in value)
  return str(value)  # None


def _metrics_row(line: str) -> Optional[Dict[str, Any]]:
  """The metrics row `line` holds: a JSON object with a split and an
  integer step; None for anything else (a torn line, damaged bytes)."""
  try:
    row = json.loads(line)
  except ValueError:
    return None
  if (isinstance(row, dict) and isinstance(row.get('split'), str)
      and isinstance(row.get('step'), int)):
    return row
  return None


# Segment images are enlarged to at least this height (nearest neighbour).
SEGMENT_IMAGE_HEIGHT = 112
# The predicted pixels are drawn with this much of pure green mixed in.
PREDICTED_TINT = 0.3


def segment_images(tokens: np.ndarray, steps: np.ndarray,
                   predicted: np.ndarray, image_shape,
                   min_height: int = SEGMENT_IMAGE_HEIGHT) -> np.ndarray:
  """Original | prediction, side by side, for image sequences.

  Args:
    tokens: (N, T, C) uint8, the original sequences.
    steps: (L, N) positions of the predicted tokens.
    predicted: (L, N, C) predicted tokens.
    image_shape: (H, W, C) with H * W = T.
    min_height: pixels are repeated k times in both directions, the
      smallest k that makes the image at least this tall.

  Returns:
    uint8 RGB (N, kH, k(2W + 1), 3): the original; a white column; the
    original at a quarter of its brightness with the predicted segment drawn
    over it, tinted green so that what was predicted is visible even where
    the prediction is black.
  """
  height, width, channels = image_shape
  rgb = np.repeat(tokens, 3, axis=-1) if channels == 1 else tokens
  rgb = rgb.astype(np.float32)
  rows = np.arange(tokens.shape[0])
  shown = rgb // 4
  predicted_rgb = (np.repeat(predicted, 3, axis=-1) if channels == 1
                   else predicted).astype(np.float32)
  green = np.array([0.0, 255.0, 0.0], np.float32)
  shown[rows[np.newaxis, :], steps] = ((1 - PREDICTED_TINT) * predicted_rgb
                                       + PREDICTED_TINT * green)
  shape = (tokens.shape[0], height, width, 3)
  separator = np.full((tokens.shape[0], height, 1, 3), 255, np.float32)
  images = np.concatenate([rgb.reshape(shape), separator,
                           shown.reshape(shape)], axis=2)
  scale = max(1, -(-min_height // height))
  images = np.repeat(np.repeat(images, scale, axis=1), scale, axis=2)
  return np.round(images).astype(np.uint8)


def _duration(seconds: float) -> str:
  minutes, seconds = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}h{minutes:02d}m{seconds:02d}s' if hours else (
      f'{minutes}m{seconds:02d}s')
