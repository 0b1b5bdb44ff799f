"""Tests of the mean +- sd over seeds and its table and plot."""

import json
import os
from unittest import mock

import tensorflow as tf

from experiments import multiseed
from r_lstm import summaries
from tests import testing


def write_run(directory, curve, steps_per_sec=(1.0, 2.0, 4.0),
              train_accuracy=None):
  """A run's metrics: training rates at updates 10, 20, ..., evaluations
  `curve` ({update: accuracy}), training accuracy `train_accuracy`
  ({update: accuracy}) when given."""
  os.makedirs(directory, exist_ok=True)
  rows = [{'step': 0, 'split': 'host', 'description': 'test'}]
  rows += [{'step': 10 * (i + 1), 'split': 'train', 'steps_per_sec': rate}
           for i, rate in enumerate(steps_per_sec)]
  rows += [{'step': step, 'split': 'train', 'accuracy': accuracy}
           for step, accuracy in (train_accuracy or {}).items()]
  rows += [{'step': step, 'split': 'test', 'accuracy': accuracy, 'loss': 1.0}
           for step, accuracy in curve.items()]
  with open(os.path.join(directory, summaries.METRICS_FILE), 'w') as f:
    f.write(''.join(json.dumps(row) + '\n' for row in rows))
  return directory


class MultiseedTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    root = self.create_tempdir().full_path
    self.runs = [
        write_run(os.path.join(root, 'variant', 'seed_0'),
                  {500: 0.1, 1000: 0.5}),
        write_run(os.path.join(root, 'variant', 'seed_1'),
                  {500: 0.3, 1000: 0.7}),
        # A run still going: only its first evaluation counts.
        write_run(os.path.join(root, 'variant', 'seed_2'), {500: 0.2}),
    ]
    self.root = root

  def test_mean_and_sample_sd_per_update_over_the_runs_that_reached_it(self):
    table = multiseed.aggregate(self.runs)
    self.assertEqual(sorted(table), [500, 1000])
    self.assertAllClose(table[500]['mean'], 0.2)
    self.assertAllClose(table[500]['sd'], 0.1)
    self.assertEqual(table[500]['n'], 3)
    self.assertAllClose(table[1000]['mean'], 0.6)
    self.assertAllClose(table[1000]['sd'], 0.14142136)
    self.assertEqual(table[1000]['n'], 2)

  def test_one_run_shows_its_value_without_a_spread(self):
    table = multiseed.aggregate(self.runs[:1])
    self.assertEqual(multiseed.spread(table[500], 3), '0.100')
    text = multiseed.markdown('one', self.runs[:1])
    self.assertIn('| 500 | 0.1000 | 1 | 0.1000 |', text)
    self.assertNotIn('0.1000 ±', text)

  def test_seconds_per_update_leaves_out_the_first_interval(self):
    self.assertAllClose(multiseed.seconds_per_update(self.runs[0]), 0.375)

  def test_summary_writes_the_table_and_the_band_plot(self):
    output = os.path.join(self.root, 'variant')
    text = multiseed.write_summary(self.runs, output, 'variant')
    self.assertIn('| 1000 | 0.6000 ± 0.1414 | 2 | 0.5000 | 0.7000 |  |',
                  text)
    self.assertIn('seed_0 | seed_1 | seed_2', text)
    with open(os.path.join(output, 'summary.md')) as f:
      self.assertEqual(f.read(), text)
    self.assertGreater(os.path.getsize(os.path.join(output, 'summary.png')),
                       1000)

  def test_every_variant_under_a_root(self):
    write_run(os.path.join(self.root, 'other', 'seed_3'), {500: 0.9})
    os.makedirs(os.path.join(self.root, 'not_a_variant'))
    write_run(os.path.join(self.root, 'not_a_variant', 'notes'), {})
    with open(os.path.join(self.root, 'summary.json'), 'w') as f:
      f.write('[]')
    self.assertEqual(
        {name: [os.path.basename(w) for w in runs] for name, runs in
         multiseed.variants_under(self.root).items()},
        {'other': ['seed_3'], 'variant': ['seed_0', 'seed_1', 'seed_2']})
    output = os.path.join(self.root, 'all')
    self.assertEqual(multiseed.main([f'--root={self.root}',
                                     f'--output={output}', '--name=T']), 0)
    with open(f'{output}.md') as f:
      text = f.read()
    self.assertTrue(text.startswith('## T\n'))
    self.assertIn('### other', text)
    self.assertIn('| 500 | 0.9000 | 1 | 0.9000 |', text)
    self.assertIn('| variant | seeds | @500 |', text)  # Both reached 500.
    self.assertIn('| variant | 0, 1, 2 | 0.200 ± 0.100 (0.1000 / 0.3000 / '
                  '0.2000) |', text)
    self.assertTrue(os.path.exists(f'{output}.png'))

  def test_command_line_refuses_a_directory_without_metrics(self):
    self.assertEqual(multiseed.main(
        [f'--output={self.root}/x', self.root]), 2)
    self.assertEqual(multiseed.main(
        [f'--output={self.root}/x', *self.runs]), 0)
    self.assertTrue(os.path.exists(f'{self.root}/x.png'))

  def test_comparison_of_several_roots_and_chosen_seeds(self):
    other_root = self.create_tempdir().full_path
    write_run(os.path.join(other_root, 'baseline', 'seed_0'),
              {500: 0.4, 1000: 0.6, 1500: 0.8})
    write_run(os.path.join(other_root, 'baseline', 'seed_2'), {500: 0.0})
    output = os.path.join(self.root, 'both')
    self.assertEqual(multiseed.main([
        f'--root={self.root}', f'--root={other_root}', '--seeds=0,1',
        f'--output={output}']), 0)
    with open(f'{output}.md') as f:
      text = f.read()
    self.assertIn('| variant | seeds | @500 | @1000 | '
                  'train acc., updates 501-1000 |\n', text)
    self.assertIn('| variant | 0, 1 | 0.200 ± 0.141 (0.1000 / 0.3000) | '
                  '0.600 ± 0.141 (0.5000 / 0.7000) |', text)
    self.assertIn('| baseline | 0 | 0.400 | 0.600 |', text)

  def test_chosen_variants_in_their_order(self):
    write_run(os.path.join(self.root, 'other', 'seed_0'), {500: 0.9})
    write_run(os.path.join(self.root, 'left_out', 'seed_0'), {500: 0.5})
    output = os.path.join(self.root, 'chosen')
    self.assertEqual(multiseed.main([
        f'--root={self.root}', '--variants=variant,other',
        f'--output={output}']), 0)
    with open(f'{output}.md') as f:
      text = f.read()
    self.assertNotIn('left_out', text)
    self.assertLess(text.index('| variant | 0, 1, 2 |'),
                    text.index('| other | 0 |'))
    self.assertEqual(multiseed.main([
        f'--root={self.root}', '--variants=variant,absent',
        f'--output={output}']), 2)

  def test_training_accuracy_between_the_last_two_common_evaluations(self):
    root = self.create_tempdir().full_path
    runs = [
        write_run(os.path.join(root, 'fits', 'seed_0'), {500: 0.4, 1000: 0.5},
                  train_accuracy={250: 0.0, 500: 0.1, 750: 0.6, 1000: 0.8}),
        write_run(os.path.join(root, 'fits', 'seed_1'), {500: 0.4, 1000: 0.5},
                  train_accuracy={750: 0.9, 1000: 0.9}),
        write_run(os.path.join(root, 'untrained', 'seed_0'), {500: 0.1,
                                                               1000: 0.1}),
    ]
    self.assertAllClose(multiseed.train_accuracy(runs[0], 500, 1000), 0.7)
    self.assertAllClose(multiseed.train_accuracy(runs[0], 0, 500), 0.05)
    self.assertIsNone(multiseed.train_accuracy(runs[2], 500, 1000))
    text = multiseed.comparison({'fits': runs[:2], 'untrained': runs[2:]})
    self.assertIn('| variant | seeds | @500 | @1000 | '
                  'train acc., updates 501-1000 |', text)
    self.assertIn('|---|---|---|---|---|\n', text)
    self.assertIn('| fits | 0, 1 | 0.400 ± 0.000 (0.4000 / 0.4000) | '
                  '0.500 ± 0.000 (0.5000 / 0.5000) | '
                  '0.800 ± 0.141 (0.7000 / 0.9000) |', text)
    self.assertIn('| untrained | 0 | 0.100 | 0.100 |  |', text)

  def test_training_accuracy_says_how_many_seeds_logged_it(self):
    root = self.create_tempdir().full_path
    runs = [
        write_run(os.path.join(root, 'mixed', 'seed_0'), {500: 0.4, 1000: 0.5},
                  train_accuracy={750: 0.6}),
        write_run(os.path.join(root, 'mixed', 'seed_1'), {500: 0.4, 1000: 0.5},
                  train_accuracy={750: 0.8}),
        write_run(os.path.join(root, 'mixed', 'seed_2'), {500: 0.4,
                                                           1000: 0.5}),
    ]
    self.assertEqual(multiseed.train_cell(runs, 500, 1000),
                     '0.700 ± 0.141 (0.6000 / 0.8000) (2 of 3 seeds logged it)')
    self.assertEqual(multiseed.train_cell(runs[:2], 500, 1000),
                     '0.700 ± 0.141 (0.6000 / 0.8000)')

  def test_a_torn_last_line_is_left_out(self):
    run = self.runs[0]
    with open(os.path.join(run, summaries.METRICS_FILE), 'a') as f:
      f.write('{"step": 1500, "split": "te')
    self.assertEqual(multiseed.eval_curve(run), {500: 0.1, 1000: 0.5})
    self.assertAllClose(multiseed.seconds_per_update(run), 0.375)

  def test_a_metrics_file_is_read_once_until_it_grows(self):
    run = self.runs[0]
    with mock.patch.object(summaries, 'read_metric_rows',
                           wraps=summaries.read_metric_rows) as read:
      multiseed.eval_curve(run)
      multiseed.seconds_per_update(run)
      self.assertEqual(read.call_count, 1)
      with open(os.path.join(run, summaries.METRICS_FILE), 'a') as f:
        f.write(json.dumps({'step': 1500, 'split': 'test',
                            'accuracy': 0.9}) + '\n')
      self.assertEqual(multiseed.eval_curve(run),
                       {500: 0.1, 1000: 0.5, 1500: 0.9})
      self.assertEqual(read.call_count, 2)

  def test_eval_curve_keeps_only_the_splits_asked_for(self):
    run = self.runs[0]
    with open(os.path.join(run, summaries.METRICS_FILE), 'a') as f:
      f.write(json.dumps({'step': 1500, 'split': 'validation',
                          'accuracy': 0.9}) + '\n')
    self.assertEqual(multiseed.eval_curve(run),
                     {500: 0.1, 1000: 0.5, 1500: 0.9})
    self.assertEqual(multiseed.eval_curve(run, ('test',)),
                     {500: 0.1, 1000: 0.5})

  def test_mnist_experiment_summary_reads_a_run_with_a_torn_last_line(self):
    run = self.runs[0]
    with open(os.path.join(run, summaries.METRICS_FILE), 'a') as f:
      f.write('{"step": 1500, "split": "te')
    summarized = testing.run_python(
        '-c', 'import json, sys; from experiments import mnist; '
        'print(json.dumps(mnist.summarize("v", sys.argv[1], 7.0)))', run)
    self.assertEqual(summarized.returncode, 0, msg=summarized.stderr[-3000:])
    self.assertEqual(
        json.loads(summarized.stdout.strip().splitlines()[-1]),
        {'variant': 'v', 'test_accuracy_by_step': {'500': 0.1, '1000': 0.5},
         'seconds_per_update': 0.375, 'wall_seconds': 7.0})


if __name__ == '__main__':
  tf.test.main()
