"""Property test: `predict` on an export directory damaged at random (a
file cut short, a file missing, a stray file added) either scores it (the
damage did not touch what serving needs) or ends in one
`r_lstm.predict: error:` line with exit code 2 and no traceback; it never
writes a partial output.

Each example is a real command-line run (a few seconds): few examples,
derandomized so CI's are the same every run."""

import os
import shutil
import tempfile

from hypothesis import HealthCheck, Phase, given, settings, strategies as st
import tensorflow as tf

from r_lstm import cli
from tests import testing

EXAMPLES = settings(max_examples=6, deadline=None, derandomize=True,
                    database=None, phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow])


def _files(directory):
  return sorted(os.path.relpath(os.path.join(root, name), directory)
                for root, _, names in os.walk(directory) for name in names)


class DamagedExportTest(testing.TinyExportTestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.files = _files(cls.export_dir)

  @EXAMPLES
  @given(damage=st.sampled_from(['truncate', 'delete', 'extra']),
         which=st.integers(0, 100), keep=st.floats(0, 0.99))
  def test_damage_is_scored_or_one_line(self, damage, which, keep):
    root = tempfile.mkdtemp(dir=self.template)
    export = os.path.join(root, 'export')
    shutil.copytree(self.export_dir, export)
    target = os.path.join(export, self.files[which % len(self.files)])
    if damage == 'truncate':
      with open(target, 'rb') as f:
        content = f.read()
      with open(target, 'wb') as f:
        f.write(content[:int(len(content) * keep)])
    elif damage == 'delete':
      os.remove(target)
    else:
      with open(os.path.join(os.path.dirname(target), 'stray.bin'), 'wb') as f:
        f.write(b'\0' * 7)
    output = os.path.join(root, 'p.csv')
    result = testing.run_module('r_lstm.predict', f'--model={export}',
                                f'--output={output}')
    where = f'{damage} {target} to {keep:.2f}'
    self.assertNotIn('Traceback', result.stderr, msg=where)
    if result.returncode == 0:
      self.assertTrue(os.path.isfile(output), msg=where)
    else:
      self.assertEqual(result.returncode, cli.USAGE_EXIT_CODE,
                       msg=f'{where}\n{result.stderr[-2000:]}')
      lines = result.stderr.strip().splitlines()
      self.assertLen(lines, 1, msg=f'{where}\n{result.stderr[-2000:]}')
      self.assertStartsWith(lines[0], 'r_lstm.predict: error: ')
      self.assertFalse(os.path.exists(output), msg=where)
    shutil.rmtree(root)


if __name__ == '__main__':
  tf.test.main()
