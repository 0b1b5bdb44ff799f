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


# tf.test.TestCase inherits `test_session`, a deprecated session helper that
# unittest's name rule would collect as a test in every class (and skip).
# Marking it not-a-test keeps it out of collection, so pytest's "collected N"
# header counts only the tests that run.
tf.test.TestCase.test_session.__test__ = False
