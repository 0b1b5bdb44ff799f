"""Tests of the filter that keeps TensorFlow's start-up notices off stderr."""

from absl.testing import parameterized
import tensorflow as tf

from r_lstm import startup

CAPTURED = (
    b'WARNING: All log messages before absl::InitializeLog() is called are '
    b'written to STDERR\n'
    b'I0000 00:00:1796194470.869374    8275 port.cc:153] oneDNN custom '
    b'operations are on. You may see slightly different numerical results.\n'
    b'I0000 00:00:1796194470.9    8275 cpu_feature_guard.cc:227] This '
    b'TensorFlow binary is optimized to use available CPU instructions.\n'
    b'To enable the following instructions: AVX2 FMA, in other operations, '
    b'rebuild TensorFlow with the appropriate compiler flags.\n'
    b'E0000 00:00:1.0    8275 cuda_dnn.cc:8] Unable to register a factory\n'
    b'Traceback (most recent call last):\n')


class StartupTest(tf.test.TestCase, parameterized.TestCase):

  def test_drops_the_notices_and_keeps_everything_else(self):
    self.assertEqual(startup.without_notices(CAPTURED),
                     b'E0000 00:00:1.0    8275 cuda_dnn.cc:8] Unable to '
                     b'register a factory\nTraceback (most recent call '
                     b'last):\n')

  @parameterized.parameters(
      (['prog', '--verbosity=1'], True), (['prog', '-v', '0'], True),
      (['prog', '--v=2'], True), (['prog', '--verbosity'], True),
      (['prog', '--workdir=v'], False), (['prog', '--vocab=3'], False),
      (['prog'], False), (['--verbosity=1'], False))
  def test_verbosity_requested(self, argv, want):
    self.assertEqual(startup.verbosity_requested(argv), want)


if __name__ == '__main__':
  tf.test.main()
