"""Every preset builds and trains 2 updates (mocked TFDS data or a CSV of
long texts, tiny batch)."""

import dataclasses
import re

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from r_lstm import config_rules, configs, errors, paper, presets, report
from r_lstm import train_lib
from tests import testing

FULL_PRESETS = [name for name in presets.PRESETS
                if not name.endswith('_quick')]
WITH_QUICK = [name for name in FULL_PRESETS
              if f'{name}_quick' in presets.PRESETS]
PAPER_PRESETS = [cell.preset for cell in paper.CELLS]


class PresetsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(*FULL_PRESETS)
  def test_builds_and_trains_two_updates(self, name):
    config = presets.preset(name).replace(batch_size=2, eval_batch_size=2)
    if config.dataset == 'dbpedia':
      # Long enough for the paper's l = 600 (the presets keep 4,096 bytes).
      directory = self.create_tempdir().full_path
      rows = ''.join(f'"{i % 3 + 1}","title","{chr(97 + i) * 700 * (i + 1)}"\n'
                     for i in range(4))
      testing.write_files(directory, {'train.csv': rows, 'test.csv': rows})
      config = config.replace(data_dir=directory)
    config_rules.validate(config)
    with tfds.testing.mock_data(num_examples=2):
      trainer = train_lib.load_run(config,
                                   self.create_tempdir().full_path).trainer
    before = [v.numpy().copy() for v in trainer.model.trainable_variables]
    logs = trainer.train(trainer.train_iterator(), 2)
    self.assertEqual(trainer.step, 2)
    self.assertTrue(np.isfinite(logs['loss/total']))
    changed = [not np.array_equal(v.numpy(), b) for v, b in
               zip(trainer.model.trainable_variables, before)]
    self.assertGreater(np.mean(changed), 0.5)

  @parameterized.parameters(*WITH_QUICK)
  def test_quick_variant_changes_only_the_budget(self, name):
    full, quick = presets.preset(name), presets.preset(f'{name}_quick')
    changed = {f.name for f in dataclasses.fields(configs.Config)
               if getattr(full, f.name) != getattr(quick, f.name)}
    self.assertLessEqual(changed, set(presets.QUICK_SCHEDULE)
                         | set(presets.QUICK_AUXILIARY))
    self.assertIn('train_steps', changed)
    if re.search(r'_a\d+_l\d+$', name):  # anchors x l: quick keeps l.
      self.assertEqual(quick.aux_length, full.aux_length)

  def test_analysis_presets_hold_what_they_study(self):
    for k in presets.SHRINKING_BPTT:
      self.assertEqual(presets.preset(f'cifar10_r_lstm_k{k}').bptt, k)
    for anchors, length in presets.ANCHORS_BY_LENGTH:
      config = presets.preset(f'cifar10_r_lstm_a{anchors}_l{length}')
      self.assertEqual(config.num_anchors * config.aux_length, 600)
    for size in presets.DOGS_IMAGE_SIZES:
      self.assertEqual(
          presets.preset(f'stanford_dogs_{size}_r_lstm_t300').image_size, size)

  def test_unknown_preset_suggests_the_nearest(self):
    with self.assertRaisesRegex(errors.UsageError,
                                'did you mean mnist_r_lstm_t300'):
      presets.preset('mnist_r_lstm_t30')

  def test_every_paper_cell_has_a_preset_with_the_papers_number(self):
    for name in PAPER_PRESETS:
      self.assertIsNotNone(report.paper_accuracy(presets.preset(name)),
                           msg=name)


if __name__ == '__main__':
  tf.test.main()
