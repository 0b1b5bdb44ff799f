"""The structure the code keeps: a config readable without TensorFlow,
modules of at most 350 lines, data code that never imports model code, and
no module outside the registries that tells backbones or objectives apart
by name."""

import ast
import glob
import os
import re
import subprocess
import sys

import tensorflow as tf

from r_lstm import registry

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 350
# Modules that read data: none of them may reach model code.
DATA_MODULES = ('input_pipeline', 'tfds_data', 'text_data', 'images',
                'arrays', 'encoded_images', 'import_arrays', 'decode_images')
MODEL_MODULES = ('models', 'anchored', 'memory_transformer', 'segment_core',
                 'transformer', 'cells', 'cores', 'unroll',
                 'sequence', 'encoders', 'heads', 'initializers', 'memory',
                 'trainer', 'steps', 'objectives')
# Where the names of backbones and objectives may be spelt out: the
# registry, the translation of the earlier flags, the paper's table and the
# presets made from it.
NAMING_MODULES = ('registry', 'config_migration', 'paper', 'presets')


def library_files():
  return sorted(glob.glob(os.path.join(REPO, 'r_lstm', '*.py'))
                + glob.glob(os.path.join(REPO, 'r_lstm', 'objectives',
                                         '*.py')))


def _path(module):
  """The file of `r_lstm.<module>` (a package's __init__.py)."""
  base = os.path.join(REPO, 'r_lstm', *module.split('.'))
  return os.path.join(base, '__init__.py') if os.path.isdir(base) else (
      base + '.py')


def module_imports(module):
  """The r_lstm modules `r_lstm.<module>` imports at its top level, as
  dotted names below r_lstm ('objectives.base')."""
  with open(_path(module)) as f:
    tree = ast.parse(f.read())
  names = set()
  for node in tree.body:
    if not (isinstance(node, ast.ImportFrom) and node.module):
      continue
    package = node.module.split('.')
    if package[0] != 'r_lstm':
      continue
    below = '.'.join(package[1:])
    if below and not os.path.isdir(os.path.join(REPO, 'r_lstm', *package[1:])):
      names.add(below)  # from r_lstm.errors import UsageError
      continue
    for alias in node.names:  # from r_lstm(.objectives) import base
      name = f'{below}.{alias.name}' if below else alias.name
      if os.path.exists(_path(name)):
        names.add(name)
  return names


def reached(module):
  """Every r_lstm module `module` imports, directly or not."""
  seen, todo = set(), [module]
  while todo:
    name = todo.pop()
    if name in seen:
      continue
    seen.add(name)
    todo.extend(module_imports(name))
  return seen - {module}


class LayeringTest(tf.test.TestCase):

  def test_configs_import_without_tensorflow(self):
    script = (
        'import sys\n'
        'class Refuse:\n'
        '  def find_spec(self, name, path=None, target=None):\n'
        '    if name.split(".")[0] in ("tensorflow", "keras", "numpy"):\n'
        '      raise ImportError("no " + name)\n'
        'sys.meta_path.insert(0, Refuse())\n'
        'from r_lstm import config_migration, config_rules, configs\n'
        'from r_lstm import presets, registry\n'
        'config = presets.preset("mnist_r_lstm_t300")\n'
        'config = config.replace(model="rp_lstm")\n'
        'config_rules.validate(config)\n'
        'print(configs.Config.from_json(config.to_json()).auxiliary)\n')
    result = subprocess.run([sys.executable, '-c', script], cwd=REPO,
                            capture_output=True, text=True, check=False)
    self.assertEqual(result.returncode, 0, msg=result.stderr)
    self.assertEqual(result.stdout.strip(), 'both')

  def test_no_module_over_the_limit(self):
    for path in library_files():
      with open(path) as f:
        lines = len(f.readlines())
      self.assertLessEqual(lines, MAX_LINES, msg=path)

  def test_data_never_imports_model_code(self):
    for module in DATA_MODULES:
      reach = {name.split('.')[0] for name in reached(module)}
      self.assertEmpty(reach & set(MODEL_MODULES), msg=module)

  def test_no_name_comparisons_on_kinds_outside_the_registries(self):
    names = '|'.join(re.escape(name) for name in (
        *registry.BACKBONES, *registry.AUXILIARY, *registry.OBJECTIVES,
        'r_lstm', 'p_lstm', 'rp_lstm'))
    comparison = re.compile(
        rf"""(==|!=|\bin\b|\bis\b)\s*\(?\s*['"]({names})['"]"""
        rf"""|['"]({names})['"]\s*(==|!=)""")
    kind = re.compile(r'\b(model|backbone|auxiliary|objective|cell)\b')
    for path in library_files():
      module = os.path.splitext(os.path.basename(path))[0]
      if module in NAMING_MODULES:
        continue
      with open(path) as f:
        for number, line in enumerate(f, 1):
          if comparison.search(line) and kind.search(line):
            self.fail(f'{path}:{number} compares a kind by name: {line}')


if __name__ == '__main__':
  tf.test.main()
