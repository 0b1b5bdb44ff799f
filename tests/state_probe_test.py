"""Tests of the linear probe of the main LSTM's state."""

import keras
import numpy as np
import tensorflow as tf

from experiments import state_probe
from r_lstm import models, unroll
from tests import testing


class StateProbeTest(tf.test.TestCase):

  def test_states_are_the_unrolled_states_after_each_position(self):
    keras.utils.set_random_seed(0)
    model = models.SequenceClassifier(num_classes=3, vocab_size=16,
                                      embed_dim=4, lstm_units=5,
                                      head_units=(6,))
    tokens = np.random.RandomState(0).randint(0, 16, (7, 12, 1))
    # Chunks of 3 rows: the last chunk is a partial one.
    states = state_probe.states_at(model, tokens, [4, 12], chunk=3)
    self.assertEqual(states.shape, (7, 2, 10))
    inputs = tf.transpose(tf.constant(tokens), [1, 0, 2])
    for i, position in enumerate([4, 12]):
      h, c = unroll.final_states(model.encoder.core(), inputs,
                                 tf.fill([7], position), None)
      self.assertAllClose(states[:, i], np.concatenate([h, c], -1),
                          atol=1e-5)
      self.assertAllClose(state_probe.read_part(states, 'h')[:, i], h,
                          atol=1e-5)
    self.assertIs(state_probe.read_part(states, 'state'), states)

  def test_probe_reads_a_linearly_coded_class_and_not_noise(self):
    rng = np.random.RandomState(0)
    labels = rng.randint(0, 4, 400)
    coded = np.eye(4)[labels] + 0.1 * rng.randn(400, 4)
    noise = rng.randn(400, 4)
    features = np.concatenate([coded, noise], axis=1)
    self.assertEqual(state_probe.ridge_probe_accuracy(
        features[:300], labels[:300], features[300:], labels[300:], 4, 1.0),
                     1.0)
    chance = state_probe.ridge_probe_accuracy(
        noise[:300], labels[:300], noise[300:], labels[300:], 4, 1.0)
    self.assertLess(chance, 0.45)

  def test_pixel_probe_finds_the_class_only_where_it_is(self):
    # The label of the tiny data is whether the last token is above 127.
    data = testing.tiny_data(num_train=200, num_test=100)
    accuracies = state_probe.pixel_probe(data, [(7, 8), (0, 7)], 200, 100,
                                         1.0)
    self.assertGreater(accuracies[(7, 8)], 0.9)
    self.assertLess(accuracies[(0, 7)], 0.7)


if __name__ == '__main__':
  tf.test.main()
