"""The README's usage commands and Python API snippets run as written, from
a directory outside the checkout."""

import json
import os
import re
import shlex
import subprocess
import sys

import tensorflow as tf

from tests import testing

# Appended to the README's training commands so that they finish in
# seconds: a small model, 2 updates, and for the flags a command sets, a
# small value of its own (absl takes a repeated flag's last value).
SHORTER = [*testing.TINY_FLAGS, '--train_steps=2']
SHORTER_IF_SET = {'pretrain_steps': 1, 'aux_length': 4, 'aux_bptt': 3,
                  'auxiliary': None}
SHORTER_DECODER = ['--decoder_units=8', '--decoder_head_units=8']


def shortened(command):
  """A training command's extra flags that make it finish in seconds."""
  if command[2] != 'r_lstm.train':
    return []
  names = {word[2:].split('=')[0] for word in command if word.startswith('--')}
  extra = list(SHORTER)
  for name, value in SHORTER_IF_SET.items():
    if name in names:
      extra += [f'--{name}={value}'] if value is not None else SHORTER_DECODER
  return extra


# The one command that needs the internet: the test puts a stand-in where
# it would save Keras' copy.
KERAS_DOWNLOAD = shlex.split(
    'python -c "import keras; keras.datasets.mnist.load_data()"')


def readme_section(title, level='###'):
  """The README from the heading `level title...` to the next heading of
  the same or a higher level (lines in code blocks are not headings)."""
  with open(os.path.join(testing.REPO, 'README.md'), encoding='utf-8') as f:
    lines = f.read().splitlines(keepends=True)
  section, in_code = None, False
  for line in lines:
    in_code ^= line.startswith('```')
    heading = re.match(r'(#+) ', line)
    if heading and not in_code and section is not None and len(
        heading.group(1)) <= len(level):
      break
    if section is None and line.startswith(f'{level} {title}'):
      section = []
    if section is not None:
      section.append(line)
  return ''.join(section)


def shell_commands(section):
  """The commands of `section`'s bash blocks as the shell splits them into
  words: continuation lines joined, comments dropped."""
  commands = []
  for block in re.findall(r'```bash\n(.*?)```', section, re.S):
    for line in block.replace('\\\n', ' ').splitlines():
      words = shlex.split(line, comments=True)
      if words:
        commands.append(words)
  return commands


def installed_env(home):
  """The environment of a user's shell: no PYTHONPATH (the package must be
  installed, not found in the checkout), no TF_CPP_MIN_LOG_LEVEL (what
  TensorFlow prints is what a user sees) and HOME at `home`; oneDNN's
  custom operations on, as on an AVX-512 CPU (where TensorFlow's import
  prints notices that no log level silences), whatever this CPU is."""
  env = {k: v for k, v in os.environ.items()
         if k not in ('PYTHONPATH', 'TF_CPP_MIN_LOG_LEVEL')}
  env['HOME'] = home
  env['TF_ENABLE_ONEDNN_OPTS'] = '1'
  return env


class ReadmeCommandsTest(tf.test.TestCase):
  """The Usage section's commands, in order, in a fresh directory: as
  written, shortened by `shortened`; Keras' download is replaced by a
  stand-in in ~/.keras (no network here), and `tensorboard`, a server, is
  left out."""

  def test_usage_commands_run_as_written(self):
    with open(os.path.join(testing.REPO, 'README.md'), encoding='utf-8') as f:
      opening = shell_commands(f.read())[0]
    # The opening command installs (done: this test runs installed), then
    # trains the demo, which the export commands read.
    self.assertEqual(opening[:4], ['pip', 'install', '-r', 'requirements.txt'])
    commands = [opening[opening.index('&&') + 1:]] + shell_commands(
        readme_section('Usage', level='##'))
    self.assertIn(KERAS_DOWNLOAD, commands)
    directory = self.create_tempdir().full_path
    home = self.create_tempdir().full_path
    os.makedirs(os.path.join(home, '.keras', 'datasets'))
    testing.write_tiny_npz(os.path.join(home, '.keras', 'datasets',
                                        'mnist.npz'), side=28)
    ran = []
    for command in commands:
      if command == KERAS_DOWNLOAD or command[0] == 'tensorboard':
        continue
      self.assertEqual(command[:2], ['python', '-m'], msg=command)
      # What the shell does with $HOME, then the shortening flags.
      words = ([sys.executable, '-m', command[2]]
               + [word.replace('$HOME', home) for word in command[3:]]
               + shortened(command))
      result = subprocess.run(words, cwd=directory, env=installed_env(home),
                              capture_output=True, text=True, timeout=600)
      self.assertEqual(result.returncode, 0,
                       msg=f'{command}\n{result.stderr[-3000:]}')
      ran.append(command[2])
    self.assertEqual(ran, ['r_lstm.train', 'r_lstm.train', 'r_lstm.evaluate',
                           'r_lstm.import_arrays', 'r_lstm.train',
                           'r_lstm.export', 'r_lstm.predict'])
    self.assertTrue(os.path.isfile(os.path.join(
        directory, 'runs', 'mnist_r_lstm', 'config.json')))

  def test_results_commands_name_what_exists(self):
    """The results' experiment commands (hours each, so not run here) name
    an experiment, its variants, and the arrays the Usage section makes."""
    commands = [c for c in shell_commands(readme_section('Results', '##'))
                if c[:3] == ['python', '-m', 'experiments.mnist']]
    self.assertNotEmpty(commands)
    listed = testing.run_python(
        '-c', 'import json; from experiments import mnist; '
        'print(json.dumps({name: sorted(variants) for name, (_, variants) '
        'in mnist.EXPERIMENTS.items()}))')
    self.assertEqual(listed.returncode, 0, msg=listed.stderr[-3000:])
    experiments = json.loads(listed.stdout.strip().splitlines()[-1])
    for command in commands:
      flags = dict(word[2:].split('=', 1) for word in command[3:]
                   if word.startswith('--'))
      named = flags['variants'].split(',')
      known = experiments[flags['experiment']]
      for variant in named:
        self.assertIn(variant, known, msg=command)
      if not all(v.startswith('cifar10')  # CIFAR alone reads no MNIST.
                 for v in named):
        self.assertEqual(flags.get('npz'), '$HOME/.keras/datasets/mnist.npz',
                         msg=command)


class ReadmeTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.snippets = re.findall(r'```python\n(.*?)```',
                               readme_section('Python API'), re.S)
    self.assertLen(self.snippets, 2)

  def run_snippet(self, snippet):
    """Runs `snippet` in a new directory as a user would; (directory, its
    last line)."""
    directory = self.create_tempdir().full_path
    # From an unrelated directory with no PYTHONPATH: the package must be
    # installed (requirements.txt installs it), not found in the checkout.
    result = subprocess.run([sys.executable, '-c', snippet], cwd=directory,
                            env=installed_env(os.environ.get('HOME', '')),
                            capture_output=True, text=True, timeout=600)
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    # Quiet: no TensorFlow start-up notices, no Keras warnings.
    self.assertEqual(result.stderr, '')
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
