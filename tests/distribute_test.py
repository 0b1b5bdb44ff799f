"""`--strategy`: which strategy each name makes, and which process writes.

The two-process cluster itself is tested in `multi_worker_test`."""

import json
import os
from unittest import mock

from absl.testing import parameterized
import tensorflow as tf

from r_lstm import config_rules, configs, distribute
from r_lstm.errors import UsageError


def cluster_strategy(task_type, task_id, cluster):
  """A stand-in strategy whose resolver describes a cluster (a real
  multi-worker strategy would configure this process's runtime)."""
  resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
      tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id)
  return mock.Mock(cluster_resolver=resolver)


class MakeStrategyTest(tf.test.TestCase, parameterized.TestCase):

  def test_auto_on_one_cpu_is_the_default_strategy(self):
    strategy = distribute.make_strategy('auto')
    self.assertIs(strategy, tf.distribute.get_strategy())
    self.assertEqual(strategy.num_replicas_in_sync, 1)
    self.assertTrue(distribute.is_chief(strategy))
    self.assertFalse(distribute.in_cluster(strategy))

  def test_mirrored_makes_a_mirrored_strategy_that_writes(self):
    strategy = distribute.make_strategy('mirrored')
    self.assertIsInstance(strategy, tf.distribute.MirroredStrategy)
    self.assertTrue(distribute.is_chief(strategy))

  @parameterized.named_parameters(
      ('unset', None, 'needs the environment variable TF_CONFIG'),
      ('not_json', '{cluster', 'TF_CONFIG is not JSON'),
      ('no_task', json.dumps({'cluster': {'worker': ['a:1']}}),
       'needs the environment variable TF_CONFIG'))
  def test_multi_worker_without_a_cluster_names_tf_config(self, value,
                                                          message):
    env = {k: v for k, v in os.environ.items() if k != 'TF_CONFIG'}
    if value is not None:
      env['TF_CONFIG'] = value
    with mock.patch.dict(os.environ, env, clear=True):
      with self.assertRaisesRegex(UsageError, message) as raised:
        distribute.make_strategy('multi_worker')
    self.assertEqual(raised.exception.fields, ('strategy',))

  def test_tpu_without_a_tpu_is_a_usage_error(self):
    env = {k: v for k, v in os.environ.items() if k != 'TPU_NAME'}
    with mock.patch.dict(os.environ, env, clear=True):
      with self.assertRaisesRegex(UsageError,
                                  'strategy=tpu: no TPU found') as raised:
        distribute.make_strategy('tpu')
    self.assertEqual(raised.exception.fields, ('strategy',))

  def test_unknown_name(self):
    with self.assertRaisesRegex(UsageError, 'not one of auto, mirrored'):
      distribute.make_strategy('parameter_server')

  def test_every_config_choice_is_made_here(self):
    self.assertEqual(configs.STRATEGIES,
                     ('auto', 'mirrored', 'multi_worker', 'tpu'))
    self.assertIn('strategy', config_rules.RESUMABLE_FIELDS)
    with self.assertRaises(UsageError):
      config_rules.validate(configs.Config(strategy='gpus'))

  @parameterized.parameters(('unroll', 'unroll'), ('keras', 'keras'))
  def test_decoder_rnn_given_is_kept(self, requested, want):
    self.assertEqual(distribute.decoder_rnn(requested), want)

  def test_auto_decoder_rnn_is_resolved_by_the_devices(self):
    want = 'keras' if tf.config.list_logical_devices('GPU') else 'unroll'
    config = distribute.resolve_decoder_rnn(configs.Config())
    self.assertEqual(config.decoder_rnn, want)


class ChiefTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ('worker_0_of_workers', 'worker', 0, {'worker': ['a:1', 'b:1']}, True),
      ('worker_1_of_workers', 'worker', 1, {'worker': ['a:1', 'b:1']}, False),
      ('the_chief', 'chief', 0, {'chief': ['c:1'], 'worker': ['a:1']}, True),
      ('worker_0_beside_a_chief', 'worker', 0,
       {'chief': ['c:1'], 'worker': ['a:1']}, False))
  def test_who_writes(self, task_type, task_id, cluster, chief):
    strategy = cluster_strategy(task_type, task_id, cluster)
    self.assertTrue(distribute.in_cluster(strategy))
    self.assertEqual(distribute.is_chief(strategy), chief)

  def test_a_one_task_cluster_is_not_a_cluster(self):
    strategy = cluster_strategy('worker', 0, {'worker': ['a:1']})
    self.assertFalse(distribute.in_cluster(strategy))
    self.assertTrue(distribute.is_chief(strategy))


if __name__ == '__main__':
  tf.test.main()
