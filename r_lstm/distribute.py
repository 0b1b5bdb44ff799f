"""Which devices and machines a run trains on (`--strategy`), and which of
its processes writes the run's files.

Every strategy is TensorFlow's own: the update (`steps.update`) runs per
replica through `strategy.run` and sums gradients across replicas, so one
training loop serves one CPU, several GPUs, several machines and a TPU.
"""

import json
import os

import tensorflow as tf

from r_lstm.configs import STRATEGIES
from r_lstm.errors import UsageError


def make_strategy(name: str = 'auto') -> tf.distribute.Strategy:
  """The `tf.distribute.Strategy` named by `name` (`STRATEGIES`).

  'auto': `MirroredStrategy` over the local GPUs when there are several,
  else TensorFlow's default (one device). 'mirrored': `MirroredStrategy`
  over every local GPU (or the CPU). 'multi_worker':
  `MultiWorkerMirroredStrategy` over the cluster that the `TF_CONFIG`
  environment variable describes; it must be made before TensorFlow runs
  its first op. 'tpu': `TPUStrategy` on the TPU that
  `TPUClusterResolver` finds (`TPU_NAME`, or a TPU VM's own).
  """
  if name == 'auto':
    gpus = tf.config.list_logical_devices('GPU')
    if len(gpus) > 1:
      return tf.distribute.MirroredStrategy([d.name for d in gpus])
    return tf.distribute.get_strategy()
  if name == 'mirrored':
    return tf.distribute.MirroredStrategy()
  if name == 'multi_worker':
    return tf.distribute.MultiWorkerMirroredStrategy(
        cluster_resolver=_tf_config_resolver())
  if name == 'tpu':
    return _tpu_strategy()
  raise UsageError(f'strategy={name!r} is not one of {", ".join(STRATEGIES)}',
                   fields=('strategy',))


def _tf_config_resolver():
  """The cluster of `TF_CONFIG`, checked enough to name what is missing."""
  text = os.environ.get('TF_CONFIG', '')
  try:
    spec = json.loads(text) if text else None
  except ValueError as error:
    raise UsageError(f'TF_CONFIG is not JSON ({error})',
                     fields=('strategy',)) from None
  if (not isinstance(spec, dict) or not spec.get('cluster')
      or not isinstance(spec.get('task'), dict)):
    raise UsageError(
        'strategy=multi_worker needs the environment variable TF_CONFIG: '
        '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": '
        '"worker", "index": i}} on each worker (README, GPUs and clusters)',
        fields=('strategy',))
  return tf.distribute.cluster_resolver.TFConfigClusterResolver()


def _tpu_strategy() -> tf.distribute.Strategy:
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
  except (ValueError, RuntimeError, OSError, tf.errors.OpError) as error:
    raise UsageError(f'strategy=tpu: no TPU found ({str(error)[:200]})',
                     fields=('strategy',)) from None
  return tf.distribute.TPUStrategy(resolver)


def in_cluster(strategy: tf.distribute.Strategy) -> bool:
  """Whether `strategy` spans several processes (multi-worker)."""
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or isinstance(
      resolver, tf.distribute.cluster_resolver.TPUClusterResolver):
    return False
  return sum(len(tasks) for tasks in
             resolver.cluster_spec().as_dict().values()) > 1


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this process writes the run's checkpoints, summaries and
  metrics: the only process of a one-machine strategy; in a cluster the
  'chief' task, or worker 0 when the cluster names no chief (TensorFlow's
  convention)."""
  if not in_cluster(strategy):
    return True
  resolver = strategy.cluster_resolver
  cluster = resolver.cluster_spec().as_dict()
  if resolver.task_type == 'chief':
    return True
  return (resolver.task_type == 'worker' and resolver.task_id == 0
          and 'chief' not in cluster)


def decoder_rnn(requested: str) -> str:
  """How decoders run here: `requested`, with 'auto' resolved to 'keras'
  (cuDNN's fused kernels) when a GPU is visible, else 'unroll'."""
  if requested != 'auto':
    return requested
  return 'keras' if tf.config.list_logical_devices('GPU') else 'unroll'


def resolve_decoder_rnn(config):
  """`config` with `decoder_rnn` resolved (`decoder_rnn`), as a run records
  it when it starts: the same saved config then builds the same graph."""
  return config.replace(decoder_rnn=decoder_rnn(config.decoder_rnn))
