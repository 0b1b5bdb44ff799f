"""Property test of the bad-input rule: any malformed npz, CSV or
config.json ends the program with exit code 2, one `r_lstm.<tool>: error:`
line and no traceback, and leaves the workdir byte for byte as it was.

Each example is a real command-line run (a few seconds), so the example
counts are small; `derandomize` keeps CI's examples the same every run.
"""

import json
import math
import os
import shutil
import tempfile
import typing

from hypothesis import HealthCheck, Phase, given, settings, strategies as st
import numpy as np
import tensorflow as tf

from r_lstm import config_rules, configs
from tests import testing

# No shrinking: each step of it is another run of several seconds; the
# failing example is printed as generated.
EXAMPLES = settings(max_examples=6, deadline=None, derandomize=True,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[
                        HealthCheck.filter_too_much, HealthCheck.too_slow])
FIELD_TYPES = typing.get_type_hints(configs.Config)


def _tiny_arrays():
  rng = np.random.RandomState(0)
  arrays = {}
  for split, n in (('train', 12), ('test', 5)):
    images = rng.randint(0, 256, (n, 4, 4)).astype(np.uint8)
    arrays[f'x_{split}'] = images
    arrays[f'y_{split}'] = (images[:, -1, -1] > 127).astype(np.uint8)
  return arrays


# Each defect turns the valid tiny arrays into invalid ones (never by
# chance into valid ones).
NPZ_DEFECTS = {
    'float_images': lambda a, n: a.update(
        x_train=a['x_train'].astype(np.float32)),
    'one_dimensional_images': lambda a, n: a.update(
        x_train=a['x_train'].reshape(-1)),
    'five_dimensional_images': lambda a, n: a.update(
        x_train=a['x_train'].reshape(12, 2, 2, 2, 2)),
    'negative_label': lambda a, n: a.update(
        y_train=a['y_train'].astype(np.int64) - 256 - n),
    'float_labels': lambda a, n: a.update(
        y_test=a['y_test'].astype(np.float64) + 0.5),
    'labels_of_another_length': lambda a, n: a.update(
        y_train=np.zeros([12 + 1 + n % 5], np.int32)),
    'label_above_int32': lambda a, n: a.update(
        y_train=np.full([12], 2 ** 31 + n, np.int64)),
    'missing_array': lambda a, n: a.pop(sorted(a)[n % 4]),
    'test_images_of_another_size': lambda a, n: a.update(
        x_test=np.zeros([5, 5 + n % 3, 4], np.uint8)),
    'lengths_out_of_range': lambda a, n: a.update(
        x_train=a['x_train'].reshape(12, 16).astype(np.int32),
        x_test=a['x_test'].reshape(5, 16).astype(np.int32),
        len_train=np.full([12], 17 + n, np.int32)),
}

CSV_DEFECTS = {
    'class_not_an_integer': lambda text: f'"{text}x","a","b"\n',
    'class_zero': lambda text: '"0","a","b"\n',
    'class_beyond_int32': lambda text: f'"{2 ** 31 + len(text)}","a","b"\n',
    'fields_differ': lambda text: '"1","a","b"\n"1","a"\n',
    'unclosed_quote': lambda text: f'"1","{text}\n',
    'not_utf8': lambda text: f'"1","{text}'.encode() + b'\xff\xfe","b"\n',
}


def _wrong_values(annotation):
  """Values a config.json field of `annotation` may not hold."""
  values = st.one_of(
      st.text(max_size=5), st.booleans(), st.none(),
      st.lists(st.integers(-3, 3), max_size=2),
      st.floats(allow_nan=True, allow_infinity=True),
      st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
      st.integers(-10 ** 20, -1))
  return values.filter(lambda v: not config_rules.has_type(v, annotation)
                       or _invalid_number(v))


def _invalid_number(value):
  return (isinstance(value, float) and not math.isfinite(value)) or (
      isinstance(value, int) and not isinstance(value, bool) and value < 0)


class BadInputPropertyTest(testing.TinyRunTestCase):

  def fresh_workdir(self):
    tmp = tempfile.mkdtemp(dir=self.template)
    workdir = os.path.join(tmp, 'run')
    os.makedirs(workdir)
    with open(os.path.join(workdir, 'keep.txt'), 'w') as f:
      f.write('precious')
    return tmp, workdir

  @EXAMPLES
  @given(defect=st.sampled_from(sorted(NPZ_DEFECTS)),
         n=st.integers(0, 50), cut=st.one_of(st.none(), st.floats(0, 0.95)))
  def test_malformed_npz(self, defect, n, cut):
    tmp, workdir = self.fresh_workdir()
    arrays = _tiny_arrays()
    NPZ_DEFECTS[defect](arrays, n)
    path = os.path.join(tmp, 'bad.npz')
    np.savez(path, **arrays)
    if cut is not None:  # Also cut the file short: a damaged download.
      with open(path, 'rb') as f:
        data = f.read()
      with open(path, 'wb') as f:
        f.write(data[:int(len(data) * cut)])
    self.assertRefusedUntouched('train', workdir, f'--workdir={workdir}',
                                f'--dataset=npz:{path}',
                                *testing.TINY_FLAGS, '--train_steps=2')

  @EXAMPLES
  @given(defect=st.sampled_from(sorted(CSV_DEFECTS)),
         text=st.text(alphabet='abc ,é', max_size=6),
         split=st.sampled_from(['train.csv', 'test.csv']))
  def test_malformed_csv(self, defect, text, split):
    tmp, workdir = self.fresh_workdir()
    files = {'train.csv': '"1","a","b"\n"2","c","d"\n',
             'test.csv': '"1","a","b"\n'}
    files[split] = CSV_DEFECTS[defect](text)
    directory = os.path.join(tmp, 'text')
    os.makedirs(directory)
    for name, content in files.items():
      with open(os.path.join(directory, name), 'wb') as f:
        f.write(content if isinstance(content, bytes) else content.encode())
    self.assertRefusedUntouched('train', workdir, f'--workdir={workdir}',
                                f'--dataset=textcsv:{tmp}/text',
                                *testing.TINY_FLAGS, '--train_steps=2')

  @EXAMPLES
  @given(data=st.data())
  def test_malformed_config_json(self, data):
    tmp = tempfile.mkdtemp(dir=self.template)
    workdir = os.path.join(tmp, 'run')
    shutil.copytree(self.run_dir, workdir)
    path = os.path.join(workdir, 'config.json')
    with open(path) as f:
      fields = json.load(f)
    name = data.draw(st.sampled_from(sorted(fields)))
    kind = data.draw(st.sampled_from(['wrong_value', 'torn', 'unknown']))
    if kind == 'wrong_value':
      fields[name] = data.draw(_wrong_values(FIELD_TYPES[name]))
      text = json.dumps(fields)
    elif kind == 'unknown':
      fields[f'{name}_x'] = 1
      text = json.dumps(fields)
    else:
      text = json.dumps(fields)
      text = text[:data.draw(st.integers(0, len(text) - 1))]
    with open(path, 'w') as f:
      f.write(text)
    self.assertRefusedUntouched('evaluate', workdir, f'--workdir={workdir}')


if __name__ == '__main__':
  tf.test.main()
