"""The exported model's raw-input endpoint: the run's own preprocessing
inside the served graph, so a user with an image (or a text) needs nothing
but TensorFlow.

- Image runs get `serve_images`: uint8 images [batch, height, width,
  channels] of any size and 1 or 3 channels -> the run's grey conversion,
  area resize and pixel permutation (`images.pixel_tokens`, the function
  the training data went through) -> class probabilities.
- Text runs get `serve_text`: strings [batch] -> their UTF-8 bytes, the
  first `max_length` kept, as the CSV reader keeps them -> probabilities.
Runs on integer token arrays (an npz of tokens) have no raw form: their
tokens are the input, through `serve`.
"""

import re
from typing import Callable, NamedTuple, Optional, Tuple

import tensorflow as tf

from r_lstm import configs, input_pipeline, registry
from r_lstm import images as images_lib

IMAGES_ENDPOINT = 'serve_images'
TEXT_ENDPOINT = 'serve_text'



class Endpoint(NamedTuple):
  """A served function: its name, the function and its input signature."""
  name: str
  function: Callable
  signature: list


def probabilities_of(model) -> Callable:
  """(tokens, lengths) -> {'probabilities': softmax of `model`'s logits},
  what every endpoint returns.

  A token outside the model's vocabulary is refused (InvalidArgumentError
  naming the range) rather than scored: the folded embedding table would
  read another channel's row for it, a silently wrong answer. So is a
  sequence longer than a model with position embeddings has (the
  Transformer baseline's `max_length`).
  """
  model_config = model.get_config()
  vocab_size = model_config['vocab_size']
  max_length = model_config.get('max_length')
  outside = f"a token is outside the model's vocabulary 0..{vocab_size - 1}"

  def probabilities(tokens, lengths):
    checks = [
        tf.debugging.assert_non_negative(tokens, message=outside),
        tf.debugging.assert_less(tokens, tf.cast(vocab_size, tokens.dtype),
                                 message=outside)]
    if max_length:
      checks.append(tf.debugging.assert_less_equal(
          tf.shape(tokens)[1], max_length,
          message=f'the model reads at most {max_length} steps'))
    with tf.control_dependencies(checks):  # Before the model reads them.
      tokens = tf.identity(tokens)
    return {'probabilities': tf.nn.softmax(model(tokens, lengths))}
  return probabilities


def refusal(error: tf.errors.InvalidArgumentError) -> str:
  """The message of the endpoint's assertion that `error` carries (eager
  execution puts it first, a graph inside 'assertion failed: [...]'), or
  the error's first line."""
  in_graph = re.search(r"assertion failed: \[(.*?)\] \[", error.message)
  message = (in_graph.group(1).replace("\\'", "'") if in_graph
             else error.message.strip().splitlines()[0])
  return message.rstrip(' .')  # Some assertions append '.  '.


def is_text(config: configs.Config) -> bool:
  return (config.dataset in registry.TEXT_CSV
          or config.dataset.startswith('textcsv:'))


def image_tokens(images: tf.Tensor, config: configs.Config,
                 data: input_pipeline.SequenceData) -> tf.Tensor:
  """int32 tokens [batch, steps, channels] the model reads for uint8
  `images` [batch, height, width, channels]."""
  tokens = images_lib.pixel_tokens(images, config.image_size,
                                   config.grayscale)
  tf.debugging.assert_equal(
      tf.shape(tokens)[-1], data.channels,
      message=f'the model reads {data.channels}-channel pixels')
  if data.permutation is not None:
    tf.debugging.assert_equal(
        tf.shape(tokens)[1], len(data.permutation),
        message=f'the permutation orders {len(data.permutation)} pixels')
    tokens = tf.gather(tokens, data.permutation, axis=1)
  return tf.cast(tokens, tf.int32)


def text_tokens(texts: tf.Tensor, config: configs.Config
                ) -> Tuple[tf.Tensor, tf.Tensor]:
  """(int32 tokens [batch, steps, 1], lengths) of UTF-8 `texts` [batch]."""
  if config.max_length is not None:
    texts = tf.strings.substr(texts, 0, config.max_length)
  characters = tf.strings.bytes_split(texts)
  values = tf.io.decode_raw(characters.flat_values, tf.uint8)[:, 0]
  tokens = characters.with_flat_values(tf.cast(values, tf.int32))
  return tokens.to_tensor()[..., tf.newaxis], tf.cast(
      tokens.row_lengths(), tf.int32)


def raw_endpoint(probabilities: Callable, config: configs.Config,
                 data: input_pipeline.SequenceData) -> Optional[Endpoint]:
  """(name, function, input signature) of the run's raw-input endpoint,
  or None; `probabilities` maps (tokens, lengths) to the output dict."""
  if is_text(config):
    def from_text(texts):
      return probabilities(*text_tokens(texts, config))
    return Endpoint(TEXT_ENDPOINT, from_text,
                    [tf.TensorSpec([None], tf.string, name='texts')])
  if data.image_shape is None and data.permutation is None:
    return None

  def from_images(images):
    tokens = image_tokens(images, config, data)
    shape = tf.shape(tokens)
    return probabilities(tokens, tf.fill([shape[0]], shape[1]))
  return Endpoint(IMAGES_ENDPOINT, from_images,
                  [tf.TensorSpec([None, None, None, None], tf.uint8,
                                 name='images')])
