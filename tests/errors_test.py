"""The library's errors name config fields; the command line, flags."""

import errno

from absl.testing import parameterized
import tensorflow as tf

from r_lstm import config_rules, configs, errors
from r_lstm.errors import UsageError


class UsageErrorTest(tf.test.TestCase, parameterized.TestCase):

  def test_as_flags_renders_only_the_named_fields_as_whole_words(self):
    error = UsageError('bptt=-1 and seed; permutation_seed, seeds, x.seed, '
                       '(seed) workdir=/a/workdir, workdir/b, seed.npy',
                       fields=('bptt', 'seed', 'workdir'))
    self.assertEqual(error.as_flags(), '--bptt=-1 and --seed; '
                     'permutation_seed, seeds, x.seed, (--seed) '
                     '--workdir=/a/workdir, workdir/b, seed.npy')

  def test_survives_pickling(self):
    import pickle  # pylint: disable=g-import-not-at-top
    error = pickle.loads(pickle.dumps(UsageError('bptt < 0', ('bptt',))))
    self.assertEqual(error.as_flags(), '--bptt < 0')

  @parameterized.parameters(
      ('bptt', -1, 'bptt must be >= 0'),
      ('model', 'gru', "unknown value 'gru' for model"),
      ('backbone', 'rnn', "unknown value 'rnn' for backbone"),
      ('learning_rate', 0.0, 'learning_rate must be > 0'),
      ('seed', -2, 'seed must be in'),
      ('aux_length', 1, 'aux_length must be at least 2'),
      ('batch_size', 0, 'batch_size must be a positive integer'))
  def test_validate_names_the_field_and_the_cli_the_flag(self, field, value,
                                                        message):
    with self.assertRaises(UsageError) as raised:
      # `replace` takes `model`, the field's earlier name, too.
      config_rules.validate(configs.Config().replace(**{field: value}))
    self.assertStartsWith(str(raised.exception), message)
    self.assertNotIn('--', str(raised.exception))
    self.assertIn(f'--{field}', raised.exception.as_flags())



class EnvironmentFaultTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(
      (OSError(errno.ENOSPC, 'No space left on device', '/w/x'),
       '/w/x: No space left on device'),
      (OSError(errno.EROFS, 'Read-only file system'), 'Read-only file system'),
      (PermissionError(errno.EACCES, 'Permission denied', '/w'),
       '/w: Permission denied'),
      (tf.errors.ResourceExhaustedError(
          None, None, '{{function_node __wrapped__SaveV2_dtypes_1_device_/'
          'job:localhost/replica:0/task:0/device:CPU:0}} /w/v.tmp; No space '
          'left on device [Op:SaveV2]'), '/w/v.tmp; No space left on device'),
      (tf.errors.PermissionDeniedError(None, None, '/w/c; Permission denied'),
       '/w/c; Permission denied'),
  )
  def test_the_machines_refusals_are_one_line(self, error, line):
    self.assertEqual(errors.environment_fault(error), line)

  @parameterized.parameters(
      OSError(errno.EINVAL, 'Invalid argument'), ValueError('No space left'),
      tf.errors.InvalidArgumentError(None, None, 'shapes differ'))
  def test_anything_else_is_left_to_its_traceback(self, error):
    self.assertIsNone(errors.environment_fault(error))


if __name__ == '__main__':
  tf.test.main()
