"""The memory Transformer's segment as a recurrent core (`r_lstm.cores`),
and the layout of its inputs and windows in segments.

`r_lstm.memory_transformer` says what the model is; this module how one
segment runs through its blocks (`MemoryCore.segment`) and how steps map
onto segments, so that `r_lstm.unroll` runs and truncates it as it does
the LSTM.
"""

import dataclasses

import tensorflow as tf

from r_lstm import unroll


class MemoryCore:
  """The block over one segment as a recurrent core (`r_lstm.cores`).

  Its inputs are a segment's tokens plus a validity channel, (..., S, C +
  1) (`segments`); `project` embeds them (one gather and matmul for a
  whole block of segments) and adds the position embeddings. Its state:
  'memory' (N, m * d), 'hidden' (N, (layers + 1) * S * d: the tokens'
  hidden states entering each layer, then their outputs) and 'valid'
  (N, S). `sequence` is TensorFlow's autodiff through the segment loop
  (no hand-written backward pass, unlike the cells').

  `model` is the `memory_transformer.MemoryTransformerClassifier` whose
  weights it runs.
  """
  state_names = ('memory', 'hidden', 'valid')

  def __init__(self, model):
    self.model = model
    self.units = model.units

  def project(self, inputs: tf.Tensor) -> tf.Tensor:
    """(..., S, d + 1): embedded tokens plus positions, then validity."""
    model = self.model
    embedded = model.channel_embedding.embed(model.embedding,
                                             inputs[..., :-1])
    x = model.input_projection(embedded)
    x += tf.cast(model.positions, x.dtype)
    return tf.concat([x, tf.cast(inputs[..., -1:], x.dtype)], axis=-1)

  def zero_state(self, batch_size):
    model = self.model
    return (tf.zeros([batch_size, model.memory_tokens * model.units]),
            tf.zeros([batch_size, (len(model.blocks) + 1)
                      * model.segment_length * model.units]),
            tf.zeros([batch_size, model.segment_length]))

  def step(self, projected: tf.Tensor, state):
    """The state after one segment, projected (N, S, d + 1)."""
    model = self.model
    memory_state, hidden, valid = state
    rows = tf.shape(projected)[0]
    cached = cached_valid = None
    if model.attention_span == 'previous':
      previous = tf.reshape(hidden, [rows, len(model.blocks) + 1,
                                     model.segment_length, model.units])
      cached = [previous[:, k] for k in range(len(model.blocks))]
      cached_valid = valid > 0.5
    new_memory, layer_inputs = self.segment(
        projected[..., :-1], projected[..., -1] > 0.5, memory_state, cached,
        cached_valid)
    new_hidden = tf.reshape(tf.stack(layer_inputs, axis=1), [rows, -1])
    return (tf.cast(new_memory, tf.float32), tf.cast(new_hidden, tf.float32),
            tf.cast(projected[..., -1] > 0.5, tf.float32))

  def segment(self, tokens, token_valid, memory_state, cached=None,
              cached_valid=None):
    """One segment through the blocks.

    Args:
      tokens: (N, S, d) projected tokens; token_valid: (N, S) bool.
      memory_state: (N, m * d), the memory entering the segment.
      cached: None, or per layer the (N, P, d) hidden states every position
        also attends to at that layer; cached_valid: (N, P) bool.

    Returns:
      (the next memory (N, m * d), the tokens' hidden states entering each
      layer and their outputs: layers + 1 tensors (N, S, d)).
    """
    model = self.model
    rows, m, length = tf.shape(tokens)[0], model.memory_tokens, tf.shape(
        tokens)[1]
    slots = tf.reshape(tf.cast(memory_state, tokens.dtype),
                       [rows, m, model.units])
    x = tf.concat([slots + tf.cast(model.read_slots, slots.dtype), tokens,
                   slots + tf.cast(model.write_slots, slots.dtype)], axis=1)
    queries = 2 * m + length
    visible = tf.concat([tf.ones([rows, m], tf.bool), token_valid,
                         tf.ones([rows, m], tf.bool)], axis=1)
    causal = tf.linalg.band_part(tf.ones([queries, queries], tf.bool), -1, 0)
    mask = causal[tf.newaxis] & visible[:, tf.newaxis, :]
    if cached is not None:
      mask = tf.concat([tf.broadcast_to(
          cached_valid[:, tf.newaxis, :],
          [rows, queries, tf.shape(cached_valid)[1]]), mask], axis=2)
    layer_inputs = []
    for k, block in enumerate(model.blocks):
      layer_inputs.append(x[:, m:m + length])
      x = block(x, mask, None if cached is None
                else tf.cast(cached[k], x.dtype))
    x = model.final_norm(x)
    layer_inputs.append(x[:, m:m + length])
    return tf.reshape(x[:, m + length:], [rows, -1]), layer_inputs

  def output(self, state) -> tf.Tensor:
    """The segment's token outputs, (N, S * d)."""
    return state[1][:, -self.model.segment_length * self.units:]

  def compiled_states(self):
    return None  # Its step is a Transformer block's, not a cell's.

  def sequence(self, projected, state, active=None, compiled=False):
    del compiled  # Its step is a Transformer block's, not a cell's.
    return unroll.scan(self, projected, state, active, return_outputs=True,
                       gradient='autodiff')


def segments(inputs: tf.Tensor, lengths: tf.Tensor, length: int) -> tf.Tensor:
  """Segment-major int32 inputs (T / S, B, S, C + 1) from time-major tokens
  (T, B, C): padded to whole segments, each step with a last channel
  saying whether it holds a token of its example (step < length)."""
  steps = tf.shape(inputs)[0]
  padded_steps = -(-steps // length) * length
  valid = tf.sequence_mask(lengths, padded_steps)  # (B, T')
  padded = tf.pad(tf.cast(inputs, tf.float32),
                  [[0, padded_steps - steps], [0, 0], [0, 0]])
  with_valid = tf.concat(
      [padded, tf.cast(tf.transpose(valid), tf.float32)[..., tf.newaxis]],
      axis=-1)  # (T', B, C + 1)
  blocks = tf.reshape(with_valid, [padded_steps // length, length,
                                   tf.shape(inputs)[1], -1])
  # Transposed as floats: see `anchored.time_major`.
  return tf.cast(tf.transpose(blocks, [0, 2, 1, 3]), tf.int32)


def segment_window(window: unroll.Window, length: int) -> unroll.Window:
  """The segments that hold any step of each row's window."""
  end = -(-window.end // length)
  count = end - window.start // length
  return dataclasses.replace(window, end=end, length=count,
                             max_length=tf.reduce_max(count))
