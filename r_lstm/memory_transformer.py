"""A segment-recurrent memory Transformer (`--backbone=memory_transformer`).

It reads the sequence in segments of `segment_length` steps and carries
`memory_tokens` vectors from segment to segment, as the Recurrent Memory
Transformer does (Bulatov et al., 2022): each segment runs pre-LN blocks
(`transformer.EncoderBlock`) over [read memory; the segment's tokens;
write memory] under a causal mask, so a token sees the memory as it
entered the segment and the tokens before it, and the write memory sees
the whole segment; its outputs are the next memory. With
`attention_span='previous'` every position also attends to the previous
segment's hidden states at its layer (Transformer-XL's cache, one segment
long), so each layer reaches one segment further back: layers + 1
segments of local context. Nothing else reaches back: older information
travels only through the memory, as through an LSTM's (h, c). The
classifier head reads the final memory and the mean output of the last
segment.

That makes it a recurrent core (`segment_core.MemoryCore`) whose step is a
segment and whose state is what crosses a segment boundary: the memory,
the segment's hidden states (the next segment's cache) and which of its
positions hold tokens. `r_lstm.unroll` truncates it as it truncates the
LSTM: each window restarts from its captured, stop-gradient state, so the
gradient reaches exactly the window's segments, and the auxiliary
objectives attach unchanged (`r_lstm.anchored`). Windows and anchors are
in steps, rounded out to whole segments: a window of steps [s, e) runs
segments [floor(s / S), ceil(e / S)) (the supervised window of K steps
reaches the last ceil(K / S) segments when the length is a multiple of S),
and an anchor moves down to the segment boundary before it (no lower than
the first boundary its objective allows).

The decoders are the LSTM's, unchanged: the r-decoder starts from learned
linear maps of the memory alone (`decoder_init` is always 'project'), never
from the cached segment; the p-decoder reads the token outputs, which
(causal attention) see only the tokens up to their own.
"""

import dataclasses
from typing import Sequence

import keras
import tensorflow as tf

from r_lstm import anchored, cells, dtypes, encoders, heads, initializers
from r_lstm import memory, segment_core, transformer, unroll
from r_lstm.errors import UsageError
from r_lstm.objectives import base


def build(config, data) -> 'MemoryTransformerClassifier':
  """The memory Transformer backbone (`registry.BACKBONES`) of a run."""
  if config.objectives and not config.memory_tokens:
    raise UsageError(f'auxiliary={config.auxiliary} starts its decoders from '
                     'the memory, and memory_tokens=0 carries none',
                     fields=('auxiliary', 'memory_tokens'))
  return MemoryTransformerClassifier(
      num_classes=data.num_classes, vocab_size=data.vocab_size,
      channels=data.channels, embed_dim=config.embed_dim,
      channel_embedding=config.channel_embedding,
      units=config.transformer_units, layers=config.transformer_layers,
      num_heads=config.transformer_heads,
      ffn_units=config.transformer_ffn_units,
      segment_length=config.segment_length,
      memory_tokens=config.memory_tokens,
      attention_span=config.attention_span, head_units=config.head_units,
      bptt=config.bptt, auxiliary=config.objectives,
      decoder=base.DecoderOptions.of(config),
      initialization=initializers.Initialization.from_config(config),
      cell=config.cell, rnn_gradient=config.rnn_gradient,
      dtype=config.precision)


def memory_terms(config, shape: memory.Shape) -> memory.Terms:
  """What one update keeps: per window segment and layer, the block's
  activations (about ten copies of the hidden states, the feed-forward
  layer's two) and the attention scores (three copies)."""
  units, segment = config.transformer_units, config.segment_length
  queries = 2 * config.memory_tokens + segment
  keys = queries + (segment if config.attention_span == 'previous' else 0)
  per_segment = config.transformer_layers * (
      queries * (10 * units + 2 * config.transformer_ffn_units)
      + 3 * config.transformer_heads * queries * keys) * memory.FLOAT_BYTES
  embedding = encoders.ChannelEmbedding.of(config, shape.channels)
  weights = (embedding.weight_count(shape.vocab_size)
             + embedding.width * units
             + (segment + 2 * config.memory_tokens) * units
             + config.transformer_layers * (
                 4 * units ** 2 + 2 * units * config.transformer_ffn_units)
             + memory.dense_weights(((config.memory_tokens + 1) * units,
                                     *config.head_units, shape.num_classes)))
  window = -(-min(config.bptt, shape.max_length) // segment) + 1
  terms = memory.Terms(weights, {
      'supervised window (batch_size x bptt)':
          config.batch_size * window * per_segment})
  return terms + anchored.objective_memory_terms(config, shape, units)


@keras.saving.register_keras_serializable(package='r_lstm')
class MemoryTransformerClassifier(anchored.AnchoredClassifier, keras.Model):
  """Memory Transformer -> feed-forward head on the final memory and the
  last segment's mean output -> class logits, with any auxiliary
  objectives attached at segment boundaries."""

  def __init__(self, num_classes: int, vocab_size: int = 256,
               channels: int = 1, embed_dim: int = 128, units: int = 64,
               layers: int = 2, num_heads: int = 4, ffn_units: int = 128,
               segment_length: int = 28, memory_tokens: int = 4,
               attention_span: str = 'segment',
               head_units: Sequence[int] = (256, 256), bptt: int = 300,
               auxiliary: Sequence[str] = (),
               decoder: base.DecoderOptions = base.DecoderOptions(),
               initialization: initializers.Initialization = initializers.KERAS,
               cell: str = 'lstm', rnn_gradient: str = 'compiled',
               channel_embedding: str = 'concat', **kwargs):
    """`initialization` and `cell` are the decoders' (the Transformer
    keeps Keras' initializers, as the baseline does); `rnn_gradient` how
    the decoders' gradients are computed."""
    decoder = dataclasses.replace(base.DecoderOptions.of(decoder),
                                  decoder_init='project')
    initialization = initializers.Initialization.of(initialization)
    self._arguments = dict(
        num_classes=num_classes, vocab_size=vocab_size, channels=channels,
        embed_dim=embed_dim, units=units, layers=layers, num_heads=num_heads,
        ffn_units=ffn_units, segment_length=segment_length,
        memory_tokens=memory_tokens, attention_span=attention_span,
        head_units=list(head_units), bptt=bptt, auxiliary=list(auxiliary),
        decoder=decoder.to_dict(), initialization=initialization.to_dict(),
        cell=cell, rnn_gradient=rnn_gradient,
        channel_embedding=channel_embedding)
    super().__init__(**kwargs)
    with dtypes.policy_scope(self.dtype_policy):
      self.bptt = bptt
      self.channels, self.units = channels, units
      self.segment_length, self.memory_tokens = segment_length, memory_tokens
      self.attention_span = attention_span
      self.channel_embedding = encoders.ChannelEmbedding(
          channel_embedding, channels, embed_dim)
      self.embedding = self.channel_embedding.add_weight(self, vocab_size)
      self.input_projection = keras.layers.Dense(units,
                                                 name='input_projection')
      self.input_projection.build((None, self.channel_embedding.width))
      position = keras.initializers.RandomNormal(stddev=0.02)
      self.positions = self.add_weight(shape=(segment_length, units),
                                       initializer=position, name='positions')
      self.read_slots = self.add_weight(shape=(memory_tokens, units),
                                        initializer=position,
                                        name='read_slots')
      self.write_slots = self.add_weight(shape=(memory_tokens, units),
                                         initializer=position,
                                         name='write_slots')
      self.blocks = [transformer.EncoderBlock(units, num_heads, ffn_units,
                                              name=f'block_{i}')
                     for i in range(layers)]
      self.final_norm = keras.layers.LayerNormalization(name='final_norm')
      self.head = heads.feed_forward(head_units, num_classes,
                                     (memory_tokens + 1) * units, name='head')
      self.decoder_state_parts = len(cells.CELLS[cell].state_names)
      self._attach_decoders(auxiliary, decoder, vocab_size,
                            self.channel_embedding, memory_tokens * units,
                            units, initialization, cell, rnn_gradient)
      # Build the blocks and the norm: one segment through the core.
      self.core().step(tf.zeros([1, segment_length, units + 1]),
                       self.core().zero_state(1))
      self.built = True

  def get_config(self):
    return {**super().get_config(), **self._arguments}

  def core(self) -> segment_core.MemoryCore:
    return segment_core.MemoryCore(self)

  def call(self, tokens, lengths=None, training=False):
    """Class logits (B, num_classes) for tokens (B, T, channels), or for
    the pair (tokens, lengths); with training=True through the supervised
    window (gradient through its segments only)."""
    if lengths is None:
      tokens, lengths = tokens
    inputs = anchored.time_major(tokens)
    lengths = tf.cast(lengths, tf.int32)
    if training:
      [state] = self._run_step_windows(
          inputs, lengths, [unroll.Window.last_steps(lengths, self.bptt)],
          [False])
      return self._classify(state)
    length = self.segment_length
    return self._classify(unroll.final_states(
        self.core(), segment_core.segments(inputs, lengths, length),
        -(-lengths // length), None))

  def _classify(self, final_state) -> tf.Tensor:
    memory_state, _, valid = final_state
    outputs = tf.reshape(self.core().output(final_state),
                         [-1, self.segment_length, self.units])
    weights = valid[..., tf.newaxis]
    pooled = (tf.reduce_sum(outputs * weights, axis=1)
              / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0))
    return self.head(tf.concat([memory_state, pooled], axis=-1))

  def _align_anchors(self, anchors, lengths):
    """Each anchor down to the segment boundary before it, no lower than
    the first boundary at or above its objective's lowest anchor; an
    example whose aligned anchor leaves its range has none."""
    aligned = {}
    length = self.segment_length
    for decoder in self.auxiliary_decoders:
      positions, valid = anchors[decoder.objective]
      low, margin = decoder.anchor_range()
      positions = tf.maximum(positions // length * length,
                             -(-low // length) * length)
      aligned[decoder.objective] = (
          positions, valid & tf.reduce_all(
              positions <= (lengths - margin)[:, tf.newaxis], axis=1))
    return aligned

  def _run_step_windows(self, inputs, lengths, windows, reads_outputs):
    """Runs the segments of every window; a window that reads outputs gets
    the token outputs of its own steps, (max_length, N, d)."""
    length = self.segment_length
    results = unroll.run_windows(
        self.core(), segment_core.segments(inputs, lengths, length),
        [segment_core.segment_window(window, length) for window in windows],
        reads_outputs)
    return [(result[0], self._step_outputs(result[1], window)) if reads
            else result
            for window, reads, result in zip(windows, reads_outputs, results)]

  def _anchor_state(self, state):
    """The memory alone, once per state part of the decoders' cell (their
    start maps read it), never the cached segment."""
    return (state[0],) * self.decoder_state_parts

  def _step_outputs(self, outputs: tf.Tensor, window: unroll.Window):
    """Token outputs (max_length, N, d), end-aligned at each row's window
    end, from its segments' outputs (segments, N, S * d), end-aligned at
    the segment holding that end."""
    length = self.segment_length
    segment_count, rows = tf.shape(outputs)[0], tf.shape(outputs)[1]
    flat = tf.reshape(tf.transpose(tf.reshape(
        outputs, [segment_count, rows, length, self.units]), [0, 2, 1, 3]),
                      [segment_count * length, rows, self.units])
    first_step = (-(-window.end // length) - segment_count) * length
    steps = window.max_length
    offsets = (window.end - steps - first_step)[tf.newaxis, :] + tf.range(
        steps)[:, tf.newaxis]
    return unroll.gather_steps(flat, tf.range(rows), offsets)

  @property
  def _main_embedding(self):
    return self.embedding
