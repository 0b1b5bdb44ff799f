"""Keeps BUILD honest: every Python file has exactly one target of the
right kind, and each target depends on the project modules it imports."""

import ast
import glob
import os
import re

import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULE = re.compile(r'^(py_library|py_binary|py_test)\((.*?)^\)', re.M | re.S)


def parse_build():
  """{src path: (rule kind, target name, set of dep names)}."""
  with open(os.path.join(REPO, 'BUILD')) as f:
    text = f.read()
  targets = {}
  for kind, body in RULE.findall(text):
    name = re.search(r'name = "(\w+)"', body).group(1)
    srcs = re.search(r'srcs = \[(.*?)\]', body, re.S).group(1)
    deps = re.search(r'deps = \[(.*?)\]', body, re.S)
    dep_names = set(re.findall(r'":(\w+)"', deps.group(1))) if deps else set()
    for src in re.findall(r'"([^"]+)"', srcs):
      if src in targets:
        raise AssertionError(f'{src} is in two BUILD targets')
      targets[src] = (kind, name, dep_names)
  return targets


def python_files():
  """Every Python file of the project, less the empty package markers."""
  files = []
  for folder in ('r_lstm', 'r_lstm/objectives', 'tests', 'experiments',
                 'experiments/bench'):
    for path in glob.glob(os.path.join(REPO, folder, '*.py')):
      if os.path.basename(path) != '__init__.py':
        files.append(os.path.relpath(path, REPO))
  return sorted(files)


PROJECT_PACKAGES = ('r_lstm', 'r_lstm.objectives', 'tests', 'experiments',
                    'experiments.bench')


def project_imports(path):
  """Names of the project modules `path` imports (from any of
  `PROJECT_PACKAGES`), at any depth (imports inside functions count)."""
  with open(os.path.join(REPO, path)) as f:
    tree = ast.parse(f.read())
  names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module:
      package, _, module = node.module.rpartition('.')
      if node.module in PROJECT_PACKAGES:
        names |= {a.name for a in node.names}
      elif package in PROJECT_PACKAGES:
        names.add(module)
  return names


class BuildTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.targets = parse_build()

  def test_every_python_file_has_a_target(self):
    self.assertEqual(sorted(self.targets), python_files())

  def test_target_kinds(self):
    for path, (kind, name, _) in self.targets.items():
      module = os.path.splitext(os.path.basename(path))[0]
      self.assertEqual(name, module, msg=path)
      with open(os.path.join(REPO, path)) as f:
        is_entry_point = "if __name__ == '__main__'" in f.read()
      if path.endswith('_test.py'):
        self.assertEqual(kind, 'py_test', msg=path)
      elif is_entry_point:
        self.assertEqual(kind, 'py_binary', msg=path)
      else:
        self.assertEqual(kind, 'py_library', msg=path)

  def test_deps_are_exactly_the_project_imports(self):
    known = {name for _, name, _ in self.targets.values()}
    for path, (_, name, deps) in self.targets.items():
      imports = project_imports(path)
      self.assertEqual(deps, imports, msg=f'deps of :{name} ({path})')
      self.assertContainsSubset(deps, known, msg=path)


if __name__ == '__main__':
  tf.test.main()
