"""How much memory one update of a run needs, checked before it starts.

A run that cannot fit fails in TensorFlow with ResourceExhausted (or the
kernel kills it) after its files are written. `check` refuses it first,
naming the fields that make it large. The estimate counts what the update
keeps for its backward pass: for every step of every gradient window, each
LSTM layer's gates and state; each decoder's logits and their gradient;
the Transformer's attention scores; and the weights with Adam's two slots.
It is an estimate of the largest terms, not TensorFlow's exact peak.
"""

import os
from typing import Dict, Optional

from r_lstm.configs import MODELS, Config
from r_lstm.errors import UsageError
from r_lstm.objectives import base, catalog

FLOAT_BYTES = 4
# Floats kept per unit of an LSTM layer per step for the backward pass:
# four gate pre-activations, four activations, c, tanh(c), h and the
# projected input.
LSTM_FLOATS_PER_UNIT = 16


# The config fields the terms' names mention.
SIZE_FIELDS = ('batch_size', 'eval_batch_size', 'bptt', 'num_anchors',
               'aux_length')


def _lstm_window(rows: int, steps: int, units: int) -> int:
  return rows * steps * units * LSTM_FLOATS_PER_UNIT * FLOAT_BYTES


def update_terms(config: Config, max_length: int, channels: int,
                 vocab_size: int, num_classes: int) -> Dict[str, int]:
  """{what: bytes} of the largest tensors of one training update."""
  batch = config.batch_size
  terms = {}
  embedding = channels * vocab_size * config.embed_dim
  table = channels * vocab_size * 4 * config.lstm_units
  head = sum(a * b for a, b in zip(
      (2 * config.lstm_units, *config.head_units),
      (*config.head_units, num_classes)))
  weights = embedding + table + head + 8 * config.lstm_units ** 2
  if MODELS[config.model]:
    weights += (8 * config.decoder_layers * config.decoder_units ** 2
                + embedding + sum(a * b for a, b in zip(
                    (config.decoder_units, *config.decoder_head_units),
                    (*config.decoder_head_units, channels * vocab_size))))
  if config.model == 'transformer':
    weights += config.transformer_layers * (
        4 * config.transformer_units ** 2
        + 2 * config.transformer_units * config.transformer_ffn_units)
  # Weights, their gradient and Adam's two slots.
  terms['weights (x4 with gradient and optimizer slots)'] = (
      4 * FLOAT_BYTES * weights)
  if config.model == 'transformer':
    scores = config.transformer_heads * max_length ** 2 * FLOAT_BYTES
    terms['attention scores (batch_size x sequence length^2)'] = (
        3 * config.transformer_layers * batch * scores)
    terms['evaluation attention scores (eval_batch_size x sequence '
          'length^2)'] = 2 * config.eval_batch_size * scores
    return terms
  terms['supervised window (batch_size x bptt)'] = _lstm_window(
      batch, min(config.bptt, max_length), config.lstm_units)
  objectives = MODELS[config.model]
  rows = batch * config.num_anchors
  aux = min(config.aux_length, max_length)
  decoder = (config.decoder_layers * _lstm_window(rows, aux,
                                                  config.decoder_units)
             + 3 * rows * aux * (sum(config.decoder_head_units)
                                 + channels * vocab_size) * FLOAT_BYTES)
  options = base.DecoderOptions.of(config)
  for objective in objectives:
    window = catalog.BY_NAME[objective].main_window_steps(options)
    terms[f'{objective} (batch_size x num_anchors x aux_length)'] = (
        _lstm_window(rows, min(window, max_length), config.lstm_units)
        + decoder)
  return terms


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


def check_images(num_images: int, size: int, channels: int,
                 available: Optional[int] = None) -> None:
  """Raises UsageError when resizing `num_images` images to `size` x `size`
  (float32 on the way, uint8 kept) cannot fit in the free memory."""
  available = available if available is not None else available_bytes()
  needed = num_images * size * size * channels * (FLOAT_BYTES + 1)
  if available is not None and needed > available:
    raise UsageError(
        f'image_size={size}: {num_images:,} images of {size}x{size} need '
        f'about {needed / 2 ** 30:,.1f} GiB, more than the '
        f'{available / 2 ** 30:,.1f} GiB free here',
        fields=('image_size',))


def check(config: Config, max_length: int, channels: int, vocab_size: int,
          num_classes: int, available: Optional[int] = None) -> None:
  """Raises UsageError when one update needs more memory than is free."""
  available = available if available is not None else available_bytes()
  if available is None:
    return
  terms = update_terms(config, max_length, channels, vocab_size, num_classes)
  needed = sum(terms.values())
  if needed > available:
    largest = max(terms, key=terms.get)
    raise UsageError(
        f'one update of this run needs about {needed / 2 ** 30:,.1f} GiB, '
        f'more than the {available / 2 ** 30:,.1f} GiB free here; the '
        f'largest part is the {largest}: {terms[largest] / 2 ** 30:,.1f} GiB',
        fields=SIZE_FIELDS)
