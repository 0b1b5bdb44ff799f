"""Test-session setup shared by every test file."""

from absl import flags
import tensorflow as tf

# absltest helpers (create_tempdir) read flags, which pytest never parses.
flags.FLAGS.mark_as_parsed()

# Two logical CPU devices, so MirroredStrategy can be tested on one CPU.
# This must run before TensorFlow initialises its devices.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices('CPU')[0],
    [tf.config.LogicalDeviceConfiguration()] * 2)


def pytest_collection_modifyitems(items):
  """Drops tf.test.TestCase's inherited `test_session`, which always skips."""
  items[:] = [item for item in items if item.name != 'test_session']
