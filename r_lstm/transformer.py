"""The Transformer baseline: a small pre-LN encoder over the whole sequence.

The paper compares with "a comparable sized Transformer" and gives no more
detail. Ours: the same per-channel token embeddings as the LSTM, projected
to `units`, plus learned position embeddings; `layers` pre-LN blocks
(multi-head self-attention, then a ReLU feed-forward layer, each inside a
residual with layer normalisation first); a final layer norm; the mean over
each example's own valid positions (padding is masked out of attention and
of the mean); the same feed-forward classifier head as the LSTM. It always
backpropagates through the whole sequence: truncation has no meaning here.
"""

from typing import Sequence

import keras
import tensorflow as tf

from r_lstm import dtypes, encoders, heads, memory, steps


def build(config, data) -> 'TransformerClassifier':
  """The Transformer backbone (`registry.BACKBONES`) of a run."""
  return TransformerClassifier(
      num_classes=data.num_classes, max_length=data.max_length,
      vocab_size=data.vocab_size, channels=data.channels,
      embed_dim=config.embed_dim, channel_embedding=config.channel_embedding,
      units=config.transformer_units,
      layers=config.transformer_layers, num_heads=config.transformer_heads,
      ffn_units=config.transformer_ffn_units, head_units=config.head_units,
      dtype=config.precision)


def memory_terms(config, shape: memory.Shape) -> memory.Terms:
  """What one update keeps: above all the attention scores, batch x heads
  x T^2 per layer (three copies for the softmax's backward pass), and
  those of an evaluation batch."""
  units = config.transformer_units
  embedding = encoders.ChannelEmbedding.of(config, shape.channels)
  weights = (embedding.weight_count(shape.vocab_size)
             + config.transformer_layers * (
                 4 * units ** 2 + 2 * units * config.transformer_ffn_units)
             + memory.dense_weights((units, *config.head_units,
                                     shape.num_classes)))
  scores = (config.transformer_heads * shape.max_length ** 2
            * memory.FLOAT_BYTES)
  return memory.Terms(weights, {
      'attention scores (batch_size x sequence length^2)':
          3 * config.transformer_layers * config.batch_size * scores,
      'evaluation attention scores (eval_batch_size x sequence length^2)':
          2 * config.eval_batch_size * scores})


@keras.saving.register_keras_serializable(package='r_lstm')
class EncoderBlock(keras.layers.Layer):
  """x + MHA(LN(x)), then x + FFN(LN(x)); with `cached` positions, the
  queries LN(x) attend to [LN(cached); LN(x)] (Transformer-XL's cache)."""

  def __init__(self, units: int, num_heads: int, ffn_units: int, **kwargs):
    super().__init__(**kwargs)
    self.units, self.num_heads, self.ffn_units = units, num_heads, ffn_units
    self.attention_norm = keras.layers.LayerNormalization(name='attention_norm')
    self.attention = keras.layers.MultiHeadAttention(
        num_heads, units // num_heads, name='attention')
    self.ffn_norm = keras.layers.LayerNormalization(name='ffn_norm')
    self.ffn = keras.Sequential([
        keras.layers.Dense(ffn_units, activation='relu'),
        keras.layers.Dense(units)], name='ffn')

  def get_config(self):
    return {**super().get_config(), 'units': self.units,
            'num_heads': self.num_heads, 'ffn_units': self.ffn_units}

  def call(self, x, mask, cached=None):
    """x (B, Q, units); mask (B, Q, keys) bool, keys = Q or, with cached
    (B, P, units), P + Q (the cached positions first)."""
    y = self.attention_norm(x)
    keys = y if cached is None else tf.concat(
        [self.attention_norm(cached), y], axis=1)
    x = x + self.attention(y, keys, attention_mask=mask)
    return x + self.ffn(self.ffn_norm(x))


@keras.saving.register_keras_serializable(package='r_lstm')
class TransformerClassifier(steps.SupervisedOnly, keras.Model):
  """Same interface as `models.SequenceClassifier` without auxiliary
  objectives."""

  def __init__(self, num_classes: int, max_length: int, vocab_size: int = 256,
               channels: int = 1, embed_dim: int = 128, units: int = 64,
               layers: int = 2, num_heads: int = 4, ffn_units: int = 128,
               head_units: Sequence[int] = (256, 256),
               channel_embedding: str = 'concat', **kwargs):
    super().__init__(**kwargs)
    self._arguments = dict(
        num_classes=num_classes, max_length=max_length,
        vocab_size=vocab_size, channels=channels, embed_dim=embed_dim,
        channel_embedding=channel_embedding, units=units, layers=layers, num_heads=num_heads, ffn_units=ffn_units,
        head_units=tuple(head_units))
    with dtypes.policy_scope(self.dtype_policy):
      self.channels = channels
      self.vocab_size = vocab_size
      self.channel_embedding = encoders.ChannelEmbedding(
          channel_embedding, channels, embed_dim)
      self.embedding = self.channel_embedding.add_weight(self, vocab_size)
      self.input_projection = keras.layers.Dense(units, name='input_projection')
      self.positions = self.add_weight(
          shape=(max_length, units),
          initializer=keras.initializers.RandomNormal(stddev=0.02),
          name='positions')
      self.blocks = [EncoderBlock(units, num_heads, ffn_units,
                                  name=f'block_{i}') for i in range(layers)]
      self.final_norm = keras.layers.LayerNormalization(name='final_norm')
      self.head = heads.feed_forward(head_units, num_classes, units,
                                     name='head')
      # Build every sublayer now so that all weights exist before training.
      self(tf.zeros([1, 1, channels], tf.int32), tf.ones([1], tf.int32))

  def get_config(self):
    return {**super().get_config(), **self._arguments}

  def call(self, tokens, lengths=None, training=False):
    """Class logits (B, num_classes) for tokens (B, T, channels), or for
    the pair (tokens, lengths)."""
    del training  # No dropout: the LSTM baselines have none either.
    if lengths is None:
      tokens, lengths = tokens
    length = tf.shape(tokens)[1]
    embedded = self.channel_embedding.embed(self.embedding, tokens)
    x = self.input_projection(embedded) + self.positions[tf.newaxis, :length]
    valid = tf.sequence_mask(lengths, length)  # (B, T)
    attention_mask = valid[:, tf.newaxis, :]  # Keys beyond an example's end.
    for block in self.blocks:
      x = block(x, attention_mask)
    x = self.final_norm(x)
    weights = tf.cast(valid, x.dtype)[..., tf.newaxis]
    pooled = tf.reduce_sum(x * weights, axis=1) / tf.reduce_sum(weights, 1)
    return self.head(pooled)
