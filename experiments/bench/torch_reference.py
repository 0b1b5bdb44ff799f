"""The benchmarked update written in PyTorch, for the speed comparison.

The same model, objectives and optimizer as r_lstm's (grey pixels, one
channel, sequences of one length): a 128-d embedding and a 128-unit main
LSTM; the classifier head on the last state; the supervised gradient
truncated to the last `bptt` steps; for r-LSTM one anchor per example, the
main state at the anchor backpropagated `aux_bptt` steps, a 2 x 256 LSTM
decoder (bottom layer started from learned maps of (h, c), reading its own
embedding table or the main one, teacher-forced) with a 256-256 head reconstructing the
`aux_length` pixels before the anchor; Adam, global-norm clip.

Written the way a careful PyTorch user would: the gradient-free prefix
under `torch.no_grad` as fused `nn.LSTM` calls between the distinct window
starts of the batch (nn.LSTM returns no cell states per step, so the batch
state is taken at each start), every gradient window and the decoder as one
`nn.LSTM` call, all windows of a batch gathered into one dense batch.

`load_from_keras` copies an r_lstm model's weights in, so that
`experiments.bench.speed --check` can show both compute the same losses.
"""

from typing import Optional

import numpy as np
import torch
from torch import nn


def _feed_forward(hidden, outputs, inputs):
  layers = []
  for units in hidden:
    layers += [nn.Linear(inputs, units), nn.ReLU()]
    inputs = units
  return nn.Sequential(*layers, nn.Linear(inputs, outputs))


class TorchSequenceClassifier(nn.Module):
  """Main LSTM + classifier, optionally with the r-LSTM decoder."""

  def __init__(self, num_classes=10, vocab_size=256, embed_dim=128,
               lstm_units=128, head_units=(256, 256), bptt=300,
               reconstruction=False, aux_length=600, aux_bptt=300,
               decoder_units=256, decoder_layers=2,
               decoder_head_units=(256, 256), shared_embedding=False):
    super().__init__()
    self.bptt, self.aux_length, self.aux_bptt = bptt, aux_length, aux_bptt
    self.vocab_size = vocab_size
    self.embedding = nn.Embedding(vocab_size, embed_dim)
    self.lstm = nn.LSTM(embed_dim, lstm_units)
    self.head = _feed_forward(head_units, num_classes, lstm_units)
    self.reconstruction = reconstruction
    if reconstruction:
      self.init_h = nn.Linear(lstm_units, decoder_units)
      self.init_c = nn.Linear(lstm_units, decoder_units)
      self.decoder_embedding = (self.embedding if shared_embedding else
                                nn.Embedding(vocab_size, embed_dim))
      self.decoder_bottom = nn.LSTM(embed_dim, decoder_units)
      self.decoder_upper = nn.LSTM(decoder_units, decoder_units,
                                   num_layers=decoder_layers - 1)
      self.decoder_head = _feed_forward(decoder_head_units, vocab_size,
                                        decoder_units)

  def _window(self, embedded, starts, length, state):
    """Runs [starts[b], starts[b] + length) of each row from `state` with
    gradient, as one nn.LSTM call."""
    steps = starts[None, :] + torch.arange(length)[:, None]  # (L, B)
    rows = torch.arange(embedded.shape[1])[None, :].expand_as(steps)
    _, (h, c) = self.lstm(embedded[steps, rows],
                          (state[0][None], state[1][None]))
    return h[0], c[0]

  def _capture(self, tokens, positions):
    """States after the first positions[b, k] steps, without gradient.

    The prefix runs as one fused nn.LSTM call per stretch between
    consecutive distinct positions (at most B * K + 1 calls, far fewer
    than T single steps), capturing the whole batch at each boundary.
    """
    batch = tokens.shape[1]
    units = self.lstm.hidden_size
    captured_h = torch.zeros(batch, positions.shape[1], units)
    captured_c = torch.zeros_like(captured_h)
    with torch.no_grad():
      embedded = self.embedding(tokens)
      h = torch.zeros(1, batch, units)
      c = torch.zeros(1, batch, units)
      done = 0
      for position in sorted(set(positions.flatten().tolist())):
        if position > done:
          _, (h, c) = self.lstm(embedded[done:position], (h, c))
          done = position
        hit = (positions == position)[:, :, None]
        captured_h = torch.where(hit, h[0][:, None], captured_h)
        captured_c = torch.where(hit, c[0][:, None], captured_c)
    return captured_h, captured_c

  def losses(self, tokens, labels, anchors: Optional[torch.Tensor] = None):
    """(supervised loss, reconstruction loss or None), batch means.

    tokens: (T, B) int64 time-major; labels (B,); anchors (B,).
    """
    length = tokens.shape[0]
    bptt = min(self.bptt, length)
    starts = [torch.full_like(labels, length - bptt)]
    if self.reconstruction:
      starts.append(anchors - self.aux_bptt)
    h0, c0 = self._capture(tokens, torch.stack(starts, dim=1))
    embedded = self.embedding(tokens)
    h, _ = self._window(embedded, starts[0], bptt, (h0[:, 0], c0[:, 0]))
    supervised = nn.functional.cross_entropy(self.head(h), labels)
    if not self.reconstruction:
      return supervised, None
    h, c = self._window(embedded, starts[1], self.aux_bptt,
                        (h0[:, 1], c0[:, 1]))
    steps = (anchors[None, :] - self.aux_length
             + torch.arange(self.aux_length)[:, None])
    segment = tokens[steps, torch.arange(tokens.shape[1])[None, :]]
    state = (self.init_h(h)[None], self.init_c(c)[None])
    outputs, _ = self.decoder_bottom(self.decoder_embedding(segment[:-1]),
                                     state)
    outputs, _ = self.decoder_upper(outputs)
    logits = self.decoder_head(outputs)
    reconstruction = nn.functional.cross_entropy(
        logits.reshape(-1, self.vocab_size), segment[1:].reshape(-1))
    return supervised, reconstruction


def train_step(model, optimizer, tokens, labels, anchors, clip_norm=1.0):
  """One update: losses, backward, clip, Adam step."""
  optimizer.zero_grad(set_to_none=True)
  supervised, reconstruction = model.losses(tokens, labels, anchors)
  loss = supervised if reconstruction is None else supervised + reconstruction
  loss.backward()
  nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
  optimizer.step()
  return loss.item()


def load_from_keras(model: TorchSequenceClassifier, keras_model) -> None:
  """Copies an r_lstm SequenceClassifier's weights (one channel) into
  `model`, built with the same decoder embedding choice."""
  def put(parameter, value):
    parameter.data.copy_(torch.from_numpy(np.asarray(value)))

  def put_cell(weight_ih, weight_hh, bias_ih, bias_hh, cell):
    put(weight_ih, cell.kernel.numpy().T)
    put(weight_hh, cell.recurrent_kernel.numpy().T)
    put(bias_ih, cell.bias.numpy())
    put(bias_hh, np.zeros_like(cell.bias.numpy()))

  def put_dense(sequential, keras_sequential):
    linears = [m for m in sequential if isinstance(m, nn.Linear)]
    for linear, dense in zip(linears, keras_sequential.layers):
      put(linear.weight, dense.kernel.numpy().T)
      put(linear.bias, dense.bias.numpy())

  encoder = keras_model.encoder
  put(model.embedding.weight, encoder.embedding.numpy()[0])
  put_cell(model.lstm.weight_ih_l0, model.lstm.weight_hh_l0,
           model.lstm.bias_ih_l0, model.lstm.bias_hh_l0, encoder.cell)
  put_dense(model.head, keras_model.head)
  decoder = keras_model.reconstructor
  if decoder is None:
    return
  if decoder.bottom.embedding is not None:
    put(model.decoder_embedding.weight, decoder.bottom.embedding.numpy()[0])
  for linear, dense in zip((model.init_h, model.init_c), decoder.init_maps):
    put(linear.weight, dense.kernel.numpy().T)
    put(linear.bias, dense.bias.numpy())
  lstm = model.decoder_bottom
  put_cell(lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
           lstm.bias_hh_l0, decoder.bottom.cell)
  lstm = model.decoder_upper
  for i, cell in enumerate(decoder.upper_cells):
    put_cell(*(getattr(lstm, f'{name}_l{i}') for name in (
        'weight_ih', 'weight_hh', 'bias_ih', 'bias_hh')), cell)
  put_dense(model.decoder_head, decoder.head)
