"""The bad-input catalogue: every mistake in flags, data files, checkpoints
and workdirs ends the program with one clear line and exit code 2, and
nothing in the workdir is lost or overwritten."""

import os
import shutil
import tempfile

from absl.testing import parameterized
import tensorflow as tf

from r_lstm import cli
from tests import testing


def _write(path, content):
  with open(path, 'wb' if isinstance(content, bytes) else 'w') as f:
    f.write(content)


def _checkpoint_file(workdir, suffix):
  return os.path.join(workdir, 'checkpoints', f'ckpt-2{suffix}')


def _truncate(path):
  with open(path, 'rb') as f:
    data = f.read()
  _write(path, data[:len(data) // 2])


# name, what the workdir holds before, how to damage it, program, extra
# flags ({workdir}, {tmp}, {npz} filled in), expected error.
CASES = (
    # Flags.
    ('unknown_dataset', 'empty', None, 'train', ['--dataset=mnst'],
     "unknown dataset 'mnst'"),
    ('unknown_model', 'empty', None, 'train', ['--model=gru'],
     "unknown model 'gru'"),
    ('unknown_preset', 'empty', None, 'train', ['--preset=huge'],
     "unknown preset 'huge'"),
    ('negative_bptt', 'empty', None, 'train', ['--bptt=-1'],
     '--bptt must be >= 0'),
    ('zero_batch', 'empty', None, 'train', ['--batch_size=0'],
     '--batch_size must be a positive'),
    ('negative_lstm_units', 'empty', None, 'train', ['--lstm_units=-8'],
     '--lstm_units must be a positive'),
    ('bad_image_size', 'empty', None, 'train', ['--image_size=-3'],
     '--image_size must be a posit'),
    ('zero_max_length', 'empty', None, 'train', ['--max_length=0'],
     '--max_length must be a posit'),
    ('bad_head_units', 'empty', None, 'train', ['--head_units=a,b'],
     '--head_units takes integers'),
    ('zero_learning_rate', 'empty', None, 'train', ['--learning_rate=0'],
     '--learning_rate must be > 0'),
    ('stray_argument', 'empty', None, 'train', ['extra'],
     'unexpected arguments'),
    ('aux_length_too_long', 'empty', None, 'train',
     ['--model=r_lstm', '--aux_length=16'],
     '--aux_length=16 must be shorter than the sequences .* \\(16 steps\\)'),
    ('zero_anchors', 'empty', None, 'train',
     ['--model=r_lstm', '--num_anchors=0'],
     '--num_anchors must be a positive integer'),
    ('negative_aux_bptt', 'empty', None, 'train',
     ['--model=p_lstm', '--aux_bptt=-1'], '--aux_bptt must be >= 0'),
    ('pretrain_without_aux', 'empty', None, 'train', ['--pretrain_steps=5'],
     '--pretrain_steps needs an auxiliary loss'),
    ('unknown_decoder_init', 'empty', None, 'train',
     ['--model=r_lstm', '--decoder_init=zeros'],
     "unknown decoder_init 'zeros'"),
    ('unknown_decoder_embedding', 'empty', None, 'train',
     ['--model=r_lstm', '--decoder_embedding=tied'],
     "unknown decoder_embedding 'tied'"),
    ('unknown_decoder_order', 'empty', None, 'train',
     ['--model=r_lstm', '--decoder_order=backward'],
     "unknown decoder_order 'backward'"),
    ('unknown_decoder_unfed_input', 'empty', None, 'train',
     ['--model=r_lstm', '--decoder_unfed_input=model'],
     "unknown decoder_unfed_input 'model'"),
    ('unknown_head_input', 'empty', None, 'train', ['--head_input=c'],
     "unknown head_input 'c'"),
    ('feed_rate_above_one', 'empty', None, 'train',
     ['--model=r_lstm', '--decoder_feed_rate=1.5'],
     r'--decoder_feed_rate must be in \[0, 1\]'),
    ('negative_clip_norm', 'empty', None, 'train', ['--clip_norm=-1'],
     '--clip_norm must be >= 0'),
    # Data files and directories.
    ('missing_npz', 'empty', None, 'train', ['--dataset=npz:/no/such.npz'],
     'does not exist'),
    ('npz_not_a_zip', 'empty', lambda w, t: _write(f'{t}/bad.npz', b'text'),
     'train', ['--dataset=npz:{tmp}/bad.npz'], 'not a readable .npz'),
    ('tfds_not_prepared', 'empty', lambda w, t: os.makedirs(f'{t}/tfds'),
     'train', ['--dataset=mnist', '--data_dir={tmp}/tfds'],
     'not prepared in .*tfds.*never downloads.*import_arrays'),
    ('unknown_tfds_name', 'empty', None, 'train', ['--dataset=tfds:nope_ds'],
     "TFDS has no dataset named 'nope_ds'"),
    ('text_bad_class', 'empty',
     lambda w, t: testing.write_files(f'{t}/text', {
         'train.csv': '"1","a","b"\n"x","c","d"\n', 'test.csv': '"1","a","b"\n'}),
     'train', ['--dataset=textcsv:{tmp}/text'], 'train.csv, line 2: class'),
    ('text_empty_split', 'empty',
     lambda w, t: testing.write_files(f'{t}/text', {
         'train.csv': '"1","a","b"\n', 'test.csv': ''}),
     'train', ['--dataset=textcsv:{tmp}/text'], 'test.csv has no rows'),
    ('dbpedia_without_data_dir', 'empty', None, 'train',
     ['--dataset=dbpedia'], 'reads CSV files from --data_dir'),
    # Workdirs.
    ('workdir_is_a_file', 'file', None, 'train', [], 'is a file'),
    ('workdir_not_writable', 'empty', None, 'train',
     ['--workdir=/proc/r_lstm_run'], 'cannot write in /proc'),
    ('evaluate_without_a_run', 'empty', None, 'evaluate', [], 'holds no run'),
    ('conflicting_config', 'run', None, 'train', ['--lstm_units=16'],
     'holds a run with another config \\(lstm_units: 8 -> 16\\).*'
     '--override_config'),
    ('corrupt_config_json', 'run',
     lambda w, t: _write(f'{w}/config.json', '{"model": '), 'train', [],
     'config.json is not valid JSON'),
    ('foreign_config_json', 'run',
     lambda w, t: _write(f'{w}/config.json', '{"learning_rte": 1}'),
     'evaluate', [], "not an r_lstm run config \\(unknown fields "
     "\\['learning_rte'\\]"),
    # Checkpoints.
    ('corrupt_checkpoint', 'run',
     lambda w, t: _write(_checkpoint_file(w, '.data-00000-of-00001'),
                         b'\0' * 64), 'train', [],
     'checkpoint .*ckpt-2 cannot be restored'),
    ('truncated_checkpoint_index', 'run',
     lambda w, t: _truncate(_checkpoint_file(w, '.index')), 'evaluate', [],
     'checkpoint .*ckpt-2 cannot be restored'),
    ('checkpoint_of_another_architecture', 'run', None, 'train',
     ['--lstm_units=16', '--override_config'],
     'checkpoint .*ckpt-2 cannot be restored into this model'),
)


class BadInputTest(tf.test.TestCase, parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.template = tempfile.mkdtemp()
    cls.npz = os.path.join(cls.template, 'tiny.npz')
    testing.write_tiny_npz(cls.npz)
    cls.run_dir = os.path.join(cls.template, 'run')
    result = testing.run_module(
        'r_lstm.train', f'--workdir={cls.run_dir}', f'--dataset=npz:{cls.npz}',
        *testing.TINY_FLAGS, '--train_steps=2')
    assert result.returncode == 0, result.stderr[-3000:]

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.template)
    super().tearDownClass()

  def test_catalogue_has_twenty_distinct_cases(self):
    self.assertGreaterEqual(len({case[0] for case in CASES}), 20)
    self.assertLen({case[0] for case in CASES}, len(CASES))

  @parameterized.named_parameters(*CASES)
  def test_fails_in_one_line_and_keeps_the_workdir(
      self, holds, damage, program, flags, message):
    tmp = self.create_tempdir().full_path
    workdir = os.path.join(tmp, 'run')
    if holds == 'run':
      shutil.copytree(self.run_dir, workdir)
    elif holds == 'file':
      _write(workdir, 'not a directory')
    else:
      os.makedirs(workdir)
      _write(os.path.join(workdir, 'keep.txt'), 'precious')
    if damage:
      damage(workdir, tmp)
    before = testing.snapshot(workdir)
    flags = [f.format(workdir=workdir, tmp=tmp) for f in flags]
    args = [f'--workdir={workdir}']
    if program == 'train':
      args += [f'--dataset=npz:{self.npz}', *testing.TINY_FLAGS,
               '--train_steps=4']
    result = testing.run_module(f'r_lstm.{program}', *args, *flags)
    self.assertEqual(result.returncode, cli.USAGE_EXIT_CODE,
                     msg=result.stderr[-3000:])
    errors = [line for line in result.stderr.splitlines()
              if line.startswith(f'r_lstm.{program}: error:')]
    self.assertLen(errors, 1, msg=result.stderr[-3000:])
    self.assertRegex(errors[0], message)
    self.assertNotIn('Traceback', result.stderr)
    self.assertEqual(testing.snapshot(workdir), before)


if __name__ == '__main__':
  tf.test.main()
