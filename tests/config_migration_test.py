"""Earlier names keep their meaning: `--model` / `--cell` (and the same
fields in saved configs and `Config.replace`) map onto `--backbone` and
`--auxiliary`, and a run started with them resumes under the new flags."""

import json
import os

from absl.testing import parameterized
import tensorflow as tf

from r_lstm import config_migration, configs, presets
from r_lstm.errors import UsageError
from tests import testing


class TranslateTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(
      # (given, from (backbone, auxiliary), want (backbone, auxiliary))
      (dict(model='r_lstm'), ('lstm', 'none'), ('lstm', 'reconstruction')),
      (dict(model='rp_lstm'), ('lstm', 'none'), ('lstm', 'both')),
      (dict(model='p_lstm'), ('gru', 'both'), ('gru', 'prediction')),
      (dict(model='lstm'), ('gru', 'both'), ('gru', 'none')),
      (dict(model='lstm'), ('transformer', 'none'), ('lstm', 'none')),
      (dict(model='transformer'), ('gru', 'both'), ('transformer', 'none')),
      (dict(model='transformer', cell='lstm'), ('lstm', 'none'),
       ('transformer', 'none')),
      (dict(cell='gru'), ('lstm', 'reconstruction'),
       ('gru', 'reconstruction')),
      (dict(model='r_lstm', cell='gru'), ('lstm', 'none'),
       ('gru', 'reconstruction')),
      (dict(model='r_lstm', auxiliary='prediction'), ('lstm', 'none'),
       ('lstm', 'prediction')))
  def test_earlier_names_mean_what_they_meant(self, given, start, want):
    changes = config_migration.translate_legacy(given, *start)
    self.assertEqual((changes['backbone'], changes['auxiliary']), want)
    self.assertNotIn('model', changes)
    self.assertNotIn('cell', changes)

  def test_replace_takes_the_earlier_names(self):
    config = configs.Config().replace(model='rp_lstm', cell='gru', seed=3)
    self.assertEqual((config.backbone, config.auxiliary, config.seed),
                     ('gru', 'both', 3))

  @parameterized.parameters((dict(model='gru'), "unknown value 'gru' for "
                             'model'),
                            (dict(cell='rnn'), "unknown value 'rnn' for cell"),
                            (dict(model='transformer', cell='gru'),
                             'cell=gru applies to the recurrent models'))
  def test_wrong_earlier_names_are_refused(self, given, message):
    with self.assertRaisesRegex(UsageError, message):
      configs.Config().replace(**given)

  @parameterized.parameters(*presets.PRESETS)
  def test_a_saved_config_of_every_preset_reads_back(self, name):
    """A config.json as the version before --backbone wrote it: `model`
    and `cell` in place of `backbone` and `auxiliary`."""
    config = presets.preset(name)
    fields = json.loads(config.to_json())
    backbone, auxiliary = fields.pop('backbone'), fields.pop('auxiliary')
    earlier = {(b, a): model for model, (b, a) in
               config_migration.LEGACY_MODELS.items()}
    fields['model'] = earlier.get((backbone, auxiliary),
                                  earlier.get((None, auxiliary)))
    fields['cell'] = config.cell
    self.assertEqual(configs.Config.from_json(json.dumps(fields)), config)

  def test_describe_says_what_the_flags_stand_for(self):
    self.assertEqual(config_migration.describe_legacy('rp_lstm', 'gru'),
                     '--model=rp_lstm --cell=gru means --auxiliary=both '
                     '--backbone=gru')


class EarlierFlagsTest(tf.test.TestCase):

  def test_a_run_started_with_model_resumes_with_backbone_and_auxiliary(self):
    root = self.create_tempdir().full_path
    npz = os.path.join(root, 'tiny.npz')
    testing.write_tiny_npz(npz, side=4)
    workdir = os.path.join(root, 'run')
    shared = [f'--workdir={workdir}', f'--dataset=npz:{npz}',
              *testing.TINY_FLAGS, '--aux_length=4', '--decoder_units=6',
              '--decoder_head_units=6']
    first = testing.run_module('r_lstm.train', *shared, '--model=rp_lstm',
                               '--cell=gru', '--train_steps=2')
    self.assertEqual(first.returncode, 0, msg=first.stderr[-3000:])
    self.assertIn('r_lstm.train: note: --model=rp_lstm --cell=gru means '
                  '--auxiliary=both --backbone=gru', first.stderr)
    second = testing.run_module('r_lstm.train', *shared, '--backbone=gru',
                                '--auxiliary=both', '--train_steps=4')
    self.assertEqual(second.returncode, 0, msg=second.stderr[-3000:])
    self.assertIn('Resumed from', second.stdout + second.stderr)
    with open(os.path.join(workdir, 'config.json')) as f:
      saved = json.load(f)
    self.assertEqual((saved['backbone'], saved['auxiliary']), ('gru', 'both'))
    self.assertNotIn('model', saved)


if __name__ == '__main__':
  tf.test.main()
