"""The README's Python API snippet runs as written."""

import os
import re
import subprocess
import sys

import tensorflow as tf

from tests import testing


def readme_section(title):
  with open(os.path.join(testing.REPO, 'README.md'), encoding='utf-8') as f:
    text = f.read()
  start = text.index(f'\n### {title}\n')
  end = text.find('\n#', start + 1)
  return text[start:end if end >= 0 else None]


class ReadmeTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.snippets = re.findall(r'```python\n(.*?)```',
                               readme_section('Python API'), re.S)
    self.assertLen(self.snippets, 2)

  def run_snippet(self, snippet):
    """Runs `snippet` in a new directory; (directory, its last line)."""
    directory = self.create_tempdir().full_path
    # From an unrelated directory with no PYTHONPATH: the package must be
    # installed (requirements.txt installs it), not found in the checkout.
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['TF_CPP_MIN_LOG_LEVEL'] = '3'
    result = subprocess.run([sys.executable, '-c', snippet], cwd=directory,
                            env=env, capture_output=True, text=True,
                            timeout=600)
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    return directory, result.stdout.strip().splitlines()[-1]

  def test_python_api_snippet_runs_from_any_directory(self):
    directory, accuracy = self.run_snippet(self.snippets[0])
    self.assertBetween(float(accuracy), 0.0, 1.0)
    self.assertTrue(os.path.isfile(os.path.join(
        directory, 'exports', 'api_demo', 'saved_model.pb')))
    self.assertTrue(os.path.isfile(os.path.join(
        directory, 'runs', 'api_demo', 'config.json')))

  def test_keras_fit_snippet_runs_from_any_directory(self):
    directory, accuracy = self.run_snippet(self.snippets[1])
    self.assertBetween(float(accuracy), 0.0, 1.0)
    self.assertTrue(os.path.isdir(os.path.join(directory, 'runs', 'fit_demo',
                                               'train')))


if __name__ == '__main__':
  tf.test.main()
