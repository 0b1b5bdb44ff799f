"""Tests of the results report."""

import json
import os

from absl.testing import parameterized
import tensorflow as tf

from r_lstm import configs, errors, paper, presets, registry, report
from tests import testing


def write_run(workdir, config, rows):
  os.makedirs(workdir)
  with open(os.path.join(workdir, 'config.json'), 'w') as f:
    f.write(config.to_json())
  with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
    f.writelines(json.dumps(row) + '\n' for row in rows)


class ReportTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ('mnist_lstm_t300', dict(dataset='mnist', bptt=300), 11.3),
      ('mnist_npz_lstm_full', dict(dataset='npz:data/mnist.npz', bptt=784),
       98.3),
      ('pmnist_r_lstm', dict(dataset='pmnist', auxiliary='reconstruction'),
       92.8),
      ('cifar_p_lstm', dict(dataset='cifar10', auxiliary='prediction'), 64.7),
      ('cifar_r_lstm_full', dict(dataset='cifar10', auxiliary='reconstruction',
                                 bptt=1024), 72.2),
      ('transformer', dict(dataset='pmnist', backbone='transformer'), 97.9),
      ('not_a_cell_k', dict(dataset='mnist', bptt=100), None),
      ('resized', dict(dataset='mnist', image_size=14), None),
      ('offline_subset', dict(dataset='mnist5k'), None),
      ('p_lstm_full_not_in_paper', dict(dataset='mnist',
                                        auxiliary='prediction', bptt=784),
       None),
      ('gru_not_in_paper', dict(dataset='mnist', backbone='gru'), None))
  def test_paper_number_of_each_cell(self, changes, want):
    self.assertEqual(report.paper_accuracy(configs.Config(**changes)), want)

  def test_two_runs_make_the_expected_table_and_plot(self):
    root = self.create_tempdir().full_path
    host = {'step': 0, 'split': 'host', 'description': '2 x CPU, no GPU'}
    write_run(os.path.join(root, 'lstm_k300'),
              configs.Config(dataset='mnist', bptt=300, seed=1, init='keras',
                             init_embedding='torch'), [
                  host,
                  {'step': 10, 'split': 'train', 'steps_per_sec': 1.0},
                  {'step': 20, 'split': 'train', 'steps_per_sec': 2.0},
                  {'step': 20, 'split': 'test', 'accuracy': 0.1135},
                  {'step': 30, 'split': 'train', 'steps_per_sec': 0.5},
                  {'step': 30, 'split': 'test', 'accuracy': 0.25}])
    write_run(os.path.join(root, 'demo'),
              configs.Config(dataset='mnist5k',
                             auxiliary='reconstruction'), [
                  {'step': 5, 'split': 'train', 'steps_per_sec': 1.0},
                  {'step': 5, 'split': 'validation', 'accuracy': 0.5}])
    output = os.path.join(root, 'docs', 'RESULTS.md')
    report.write_report([os.path.join(root, 'lstm_k300'),
                         os.path.join(root, 'demo')], output)
    with open(output) as f:
      text = f.read()
    # 10 updates at 2/s + 10 at 0.5/s = 25 s; the first interval compiles.
    self.assertIn('| lstm_k300 | mnist | lstm | 300 | 11.3 | 25.00 | test | '
                  '30 | 0.4 min | 2 x CPU, no GPU | 1 | keras (embedding '
                  'torch) |', text)
    self.assertIn('| demo | mnist5k | r_lstm | 300 | — | 50.00 | validation | '
                  '5 | 0.0 min | unknown | 0 | torch |', text)
    self.assertIn('![learning curves](RESULTS_curves.png)', text)
    # 17 of the 18 cells have no run (the demo is no cell).
    not_run = text.split('## Not run')[1]
    self.assertEqual(not_run.count('python -m r_lstm.train'), 17)
    self.assertIn('| CIFAR10 | r_lstm | 300 | 65.9 | `python -m r_lstm.train '
                  '--preset=cifar10_r_lstm_t300 --data_dir=<TFDS dir> '
                  '--workdir=runs/cifar10_r_lstm_t300` |', not_run)
    self.assertNotIn('--preset=mnist_lstm_t300 ', not_run)
    with open(os.path.join(root, 'docs', 'RESULTS_curves.png'), 'rb') as f:
      self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')

  def test_each_cell_command_runs_that_cell(self):
    for cell in paper.CELLS:
      self.assertEqual(report.paper_cell(presets.preset(cell.preset)), cell,
                       cell.preset)
      # The quick twin is the cell too, unless its l = 200 makes it another.
      quick = f'{cell.preset}_quick'
      self.assertEqual(report.paper_cell(presets.preset(quick)),
                       None if registry.AUXILIARY[cell.auxiliary] else cell,
                       quick)

  def test_smaller_models_get_no_paper_number(self):
    for changes in (dict(lstm_units=32), dict(head_units=(64,)),
                    dict(auxiliary='reconstruction', decoder_units=64),
                    dict(auxiliary='reconstruction', aux_length=200)):
      config = configs.Config(dataset='pmnist', bptt=300, **changes)
      self.assertIsNone(report.paper_accuracy(config), msg=changes)
    # The decoder's sizes do not matter to a model without one.
    self.assertEqual(report.paper_accuracy(configs.Config(
        dataset='pmnist', bptt=300, decoder_units=64)), 88.8)

  def test_not_a_run_directory(self):
    with self.assertRaisesRegex(errors.UsageError, 'not a run directory'):
      report.write_report([self.create_tempdir().full_path],
                          os.path.join(self.create_tempdir().full_path, 'R.md'))


  def test_damaged_metrics_rows_are_left_out_with_one_warning_line(self):
    root = self.create_tempdir().full_path
    workdir = os.path.join(root, 'run')
    write_run(workdir, configs.Config(dataset='mnist5k'), [
        {'step': 5, 'split': 'train', 'steps_per_sec': 1.0},
        {'step': 5, 'split': 'validation', 'accuracy': 0.5}])
    with open(os.path.join(workdir, 'metrics.jsonl'), 'ab') as f:
      f.write(b'\xff\xfe\x00binary\n')                      # line 3
      f.write(b'{"step": 10, "accuracy": 0.7}\n')              # 4: no split
      f.write(b'{"step": 10, "split": "train", "steps_per_sec": "x"}\n')
      f.write(b'{"step": 10, "split": "validation", "accuracy": 0.75}\n')
      f.write(b'{"step": 12, "split": "vali')                  # 7: torn
    output = os.path.join(root, 'R.md')
    result = testing.run_module('r_lstm.report', f'--runs={workdir}',
                                f'--output={output}')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    self.assertEqual(result.stderr.strip().splitlines(), [
        f'r_lstm.report: warning: {workdir}/metrics.jsonl: left out line(s) '
        '3, 4, 7, not metrics rows'])
    with open(output) as f:
      self.assertIn('| run | mnist5k | lstm | 300 | — | 75.00 | validation | '
                    '10 |', f.read())

  def test_an_undecodable_config_is_one_line(self):
    workdir = os.path.join(self.create_tempdir().full_path, 'run')
    write_run(workdir, configs.Config(), [])
    with open(os.path.join(workdir, 'config.json'), 'wb') as f:
      f.write(b'\xff\xfe{')
    with self.assertRaisesRegex(errors.UsageError, 'not valid JSON'):
      report.read_run(workdir)


if __name__ == '__main__':
  tf.test.main()
