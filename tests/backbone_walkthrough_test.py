"""docs/DESIGN.md's "Adding a backbone", followed: this module is a new
backbone (a bag of embeddings: the mean of a sequence's embedded tokens,
then a linear head), and the test adds the one registry line and trains,
evaluates, checkpoints and checks the memory of a run of it from the
command line's own library entry point, in a fresh process (the registry
line must be there before `r_lstm.configs` reads it, as an edited
registry.py would be)."""

import json
import os
import subprocess
import sys

import keras
import tensorflow as tf

from r_lstm import memory, steps
from tests import testing

TERM = 'pooled embeddings (batch_size x sequence length)'


def build(config, data) -> 'MeanOfEmbeddings':
  """The walkthrough's step 1: the model."""
  return MeanOfEmbeddings(data.num_classes, data.vocab_size, data.channels,
                          config.embed_dim, dtype=config.precision)


def memory_terms(config, shape: memory.Shape) -> memory.Terms:
  """The walkthrough's step 1: what one update keeps."""
  weights = (shape.channels * shape.vocab_size * config.embed_dim
             + shape.channels * config.embed_dim * shape.num_classes)
  return memory.Terms(weights, {
      TERM: config.batch_size * shape.max_length * shape.channels
            * config.embed_dim * memory.FLOAT_BYTES})


@keras.saving.register_keras_serializable(package='r_lstm_tests')
class MeanOfEmbeddings(steps.SupervisedOnly, keras.Model):
  """No state: it takes no auxiliary objective."""

  def __init__(self, num_classes: int, vocab_size: int, channels: int,
               embed_dim: int, **kwargs):
    super().__init__(**kwargs)
    self._arguments = dict(num_classes=num_classes, vocab_size=vocab_size,
                           channels=channels, embed_dim=embed_dim)
    self.embedding = keras.layers.Embedding(vocab_size, embed_dim)
    self.head = keras.layers.Dense(num_classes)
    self(tf.zeros([1, 1, channels], tf.int32), tf.ones([1], tf.int32))

  def get_config(self):
    return {**super().get_config(), **self._arguments}

  def call(self, tokens, lengths=None, training=False):
    del training
    if lengths is None:
      tokens, lengths = tokens
    embedded = self.embedding(tf.cast(tokens, tf.int32))  # (B, T, C, E)
    batch, length = tf.shape(tokens)[0], tf.shape(tokens)[1]
    valid = tf.sequence_mask(lengths, length, embedded.dtype)
    summed = tf.einsum('btce,bt->bce', embedded, valid)
    pooled = summed / tf.cast(lengths, embedded.dtype)[:, None, None]
    return self.head(tf.reshape(pooled, [batch, -1]))


RUN = '''
import json, sys
from r_lstm import registry
# The walkthrough's step 2: one line in registry.BACKBONES.
registry.BACKBONES['bag'] = registry.Backbone(
    'bag', 'tests.backbone_walkthrough_test', recurrent=False, cell='lstm',
    help='the mean of the embedded tokens')
from r_lstm import configs, input_pipeline, memory, train_lib
config = configs.Config(**json.loads(sys.argv[1]))
train_lib.train_and_evaluate(config, sys.argv[2])
data = input_pipeline.load(config)
print(json.dumps(sorted(memory.update_terms(config, memory.Shape.of(data)))))
'''


class BackboneWalkthroughTest(tf.test.TestCase):

  def test_a_new_backbone_trains_from_its_module_and_one_registry_line(self):
    root = self.create_tempdir().full_path
    npz = os.path.join(root, 'tiny.npz')
    testing.write_tiny_npz(npz, side=4)
    workdir = os.path.join(root, 'run')
    fields = dict(backbone='bag', dataset=f'npz:{npz}', embed_dim=4,
                  batch_size=4, train_steps=4, steps_per_loop=2,
                  eval_every=4, checkpoint_every=2, eval_batch_size=10)
    result = subprocess.run(
        [sys.executable, '-c', RUN, json.dumps(fields), workdir],
        cwd=testing.REPO, capture_output=True, text=True, check=False)
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    terms = json.loads(result.stdout.strip().splitlines()[-1])
    self.assertIn(TERM, terms)
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
      rows = [json.loads(line) for line in f]
    self.assertEqual(max(row['step'] for row in rows), 4)
    self.assertTrue(any(row['split'] == 'test' for row in rows))
    with open(os.path.join(workdir, 'config.json')) as f:
      self.assertEqual(json.load(f)['backbone'], 'bag')


if __name__ == '__main__':
  tf.test.main()
