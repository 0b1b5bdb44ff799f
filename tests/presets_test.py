"""Every preset builds and trains 2 updates (mocked TFDS data, tiny batch)."""

import dataclasses

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from r_lstm import configs, report, train_lib

FULL_PRESETS = [name for name in configs.PRESETS
                if not name.endswith('_quick')]
PAPER_PRESETS = [f'{dataset}_{cell}' for dataset in configs.PAPER_DATASETS
                 for cell in configs.PAPER_CELLS]


class PresetsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(*FULL_PRESETS)
  def test_builds_and_trains_two_updates(self, name):
    config = configs.preset(name).replace(batch_size=2, eval_batch_size=2)
    configs.validate(config)
    with tfds.testing.mock_data(num_examples=2):
      trainer = train_lib.load_run(config, self.create_tempdir().full_path)
    before = [v.numpy().copy() for v in trainer.model.trainable_variables]
    logs = trainer.train(trainer.train_iterator(), 2)
    self.assertEqual(trainer.step, 2)
    self.assertTrue(np.isfinite(logs['loss/total']))
    changed = [not np.array_equal(v.numpy(), b) for v, b in
               zip(trainer.model.trainable_variables, before)]
    self.assertGreater(np.mean(changed), 0.5)

  @parameterized.parameters(*PAPER_PRESETS)
  def test_quick_variant_changes_only_the_budget(self, name):
    paper, quick = configs.preset(name), configs.preset(f'{name}_quick')
    changed = {f.name for f in dataclasses.fields(configs.Config)
               if getattr(paper, f.name) != getattr(quick, f.name)}
    self.assertLessEqual(changed, set(configs.QUICK_SCHEDULE)
                         | set(configs.QUICK_AUXILIARY))
    self.assertIn('train_steps', changed)

  def test_every_paper_cell_has_a_preset_with_the_papers_number(self):
    for name in PAPER_PRESETS:
      self.assertIsNotNone(report.paper_accuracy(configs.preset(name)),
                           msg=name)


if __name__ == '__main__':
  tf.test.main()
