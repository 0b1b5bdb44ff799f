"""The bad-input catalogue: every mistake in flags, data files, checkpoints
and workdirs ends the program with one clear line and exit code 2, and
nothing in the workdir is lost or overwritten."""

from concurrent import futures
import json
import os
import shutil
import zipfile

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tests import testing


def _write(path, content):
  with open(path, 'wb' if isinstance(content, bytes) else 'w') as f:
    f.write(content)


def _checkpoint_file(workdir, suffix):
  return os.path.join(workdir, 'checkpoints', f'ckpt-2{suffix}')


def _edit_config(workdir, **fields):
  path = os.path.join(workdir, 'config.json')
  with open(path) as f:
    config = json.load(f)
  config.update(fields)
  _write(path, json.dumps(config))


def _npz(path, **arrays):
  """The tiny npz with some arrays replaced."""
  base = testing.write_tiny_npz(path)
  base.update(arrays)
  np.savez(path, **base)


def _forged_npz(path):
  """An npz whose x_train header declares 900 TiB in a few bytes."""
  base = testing.write_tiny_npz(path)
  with zipfile.ZipFile(path, 'w') as archive:
    for key, array in base.items():
      with archive.open(f'{key}.npy', 'w') as f:
        if key == 'x_train':
          np.lib.format.write_array_header_1_0(f, {
              'descr': '|u1', 'fortran_order': False,
              'shape': (10 ** 8, 10 ** 7)})
          f.write(b'\0' * 64)
        else:
          np.lib.format.write_array(f, array)


def _text_dir(directory, **files):
  testing.write_files(directory, {'train.csv': '"1","a","b"\n',
                                  'test.csv': '"1","a","b"\n', **files})


def _leave_partial_checkpoint(workdir):
  """Only the index of ckpt-2, as a copy cut short would leave it."""
  directory = os.path.join(workdir, 'checkpoints')
  for name in os.listdir(directory):
    os.remove(os.path.join(directory, name))
  _write(os.path.join(directory, 'ckpt-2.index'), b'x')


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
     "unknown value 'gru' for --model"),
    ('unknown_backbone', 'empty', None, 'train', ['--backbone=rnn'],
     "unknown value 'rnn' for --backbone; choose one of lstm, gru, "
     "memory_transformer, transformer"),
    ('memory_transformer_objective_without_memory', 'empty', None, 'train',
     ['--backbone=memory_transformer', '--auxiliary=reconstruction',
      '--memory_tokens=0', '--aux_length=4'],
     '--auxiliary=reconstruction starts its decoders from the memory, and '
     '--memory_tokens=0 carries none'),
    ('transformer_with_an_objective', 'empty', None, 'train',
     ['--backbone=transformer', '--auxiliary=reconstruction'],
     '--auxiliary=reconstruction needs a state to start from, and '
     '--backbone=transformer has none'),
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
     ['--auxiliary=reconstruction', '--aux_length=16'],
     '--aux_length=16 must be shorter than the sequences .* \\(16 steps\\)'),
    ('zero_anchors', 'empty', None, 'train',
     ['--auxiliary=reconstruction', '--num_anchors=0'],
     '--num_anchors must be a positive integer'),
    ('negative_aux_bptt', 'empty', None, 'train',
     ['--auxiliary=prediction', '--aux_bptt=-1'], '--aux_bptt must be >= 0'),
    ('pretrain_without_aux', 'empty', None, 'train', ['--pretrain_steps=5'],
     '--pretrain_steps needs objectives to pretrain; --auxiliary=none'),
    ('unknown_decoder_init', 'empty', None, 'train',
     ['--auxiliary=reconstruction', '--decoder_init=zeros'],
     "unknown value 'zeros' for --decoder_init"),
    ('unknown_decoder_embedding', 'empty', None, 'train',
     ['--auxiliary=reconstruction', '--decoder_embedding=tied'],
     "unknown value 'tied' for --decoder_embedding"),
    ('unknown_decoder_order', 'empty', None, 'train',
     ['--auxiliary=reconstruction', '--decoder_order=backward'],
     "unknown value 'backward' for --decoder_order"),
    ('unknown_decoder_unfed_input', 'empty', None, 'train',
     ['--auxiliary=reconstruction', '--decoder_unfed_input=model'],
     "unknown value 'model' for --decoder_unfed_input"),
    ('unknown_head_input', 'empty', None, 'train', ['--head_input=c'],
     "unknown value 'c' for --head_input"),
    ('unknown_cell', 'empty', None, 'train', ['--cell=rnn'],
     "unknown value 'rnn' for --cell"),
    ('transformer_with_a_cell', 'empty', None, 'train',
     ['--model=transformer', '--cell=gru'],
     '--cell=gru applies to the recurrent models; the transformer has no '
     'recurrence'),
    ('feed_rate_above_one', 'empty', None, 'train',
     ['--auxiliary=reconstruction', '--decoder_feed_rate=1.5'],
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
    # Numbers that wrap, overflow or are not numbers.
    ('negative_seed', 'empty', None, 'train', ['--seed=-1'],
     '--seed must be in 0..2147483647, got -1'),
    ('nan_learning_rate', 'empty', None, 'train', ['--learning_rate=nan'],
     '--learning_rate must be a finite number'),
    ('nan_clip_norm', 'empty', None, 'train', ['--clip_norm=nan'],
     '--clip_norm must be a finite number'),
    ('infinite_aux_weight', 'empty', None, 'train',
     ['--auxiliary=reconstruction', '--aux_length=4', '--aux_weight=inf'],
     '--aux_weight must be a finite number'),
    ('label_above_int32', 'empty',
     lambda w, t: _npz(f'{t}/big.npz', y_train=np.full([24], 2 ** 32 + 1)),
     'train', ['--dataset=npz:{tmp}/big.npz'], 'above 2147483647'),
    ('token_above_int32', 'empty',
     lambda w, t: _npz(f'{t}/tok.npz', x_train=np.full([24, 6], 2 ** 32 + 1),
                       x_test=np.ones([10, 6], np.int64)),
     'train', ['--dataset=npz:{tmp}/tok.npz'],
     'x_train has a value 4294967297'),
    ('csv_class_of_twenty_digits', 'empty',
     lambda w, t: _text_dir(f'{t}/text', **{
         'train.csv': '"12345678901234567890","a","b"\n'}),
     'train', ['--dataset=textcsv:{tmp}/text'],
     'class 12345678901234567890 is out of range'),
    ('num_anchors_beyond_memory', 'empty', None, 'train',
     ['--auxiliary=reconstruction', '--aux_length=4', '--num_anchors=1000000'],
     'needs about [0-9,.]+ GiB, more than .* free here; the largest part is '
     'the reconstruction \\(--batch_size x --num_anchors x --aux_length\\)'),
    ('image_size_beyond_memory', 'empty', None, 'train',
     ['--image_size=200000'], '--image_size=200000: 24 images of '
     '200000x200000 need about'),
    ('lstm_units_beyond_memory', 'empty', None, 'train',
     ['--lstm_units=2000000'], 'the largest part is the weights'),
    # Data that does not fit together.
    ('test_images_of_another_size', 'empty',
     lambda w, t: _npz(f'{t}/sizes.npz',
                       x_test=np.zeros([10, 5, 5], np.uint8)),
     'train', ['--dataset=npz:{tmp}/sizes.npz'],
     'test images are 5x5x1 .* training images are 4x4x1'),
    ('images_without_pixels', 'empty',
     lambda w, t: _npz(f'{t}/empty.npz', x_train=np.zeros([24, 0, 4], np.uint8),
                       x_test=np.zeros([10, 0, 4], np.uint8)),
     'train', ['--dataset=npz:{tmp}/empty.npz'],
     'x_train has shape \\(24, 0, 4\\); every dimension'),
    ('images_without_channels', 'empty',
     lambda w, t: _npz(f'{t}/c0.npz', x_train=np.zeros([24, 4, 4, 0], np.uint8),
                       x_test=np.zeros([10, 4, 4, 0], np.uint8)),
     'train', ['--dataset=npz:{tmp}/c0.npz'],
     'x_train has shape \\(24, 4, 4, 0\\); every dimension'),
    ('tokens_without_steps', 'empty',
     lambda w, t: _npz(f'{t}/t0.npz', x_train=np.zeros([24, 0], np.int32),
                       x_test=np.zeros([10, 0], np.int32)),
     'train', ['--dataset=npz:{tmp}/t0.npz'], 'N and T at least 1'),
    ('npy_not_npz', 'empty',
     lambda w, t: np.save(f'{t}/x.npy', np.zeros(3)), 'train',
     ['--dataset=npz:{tmp}/x.npy'], 'not a readable .npz file'),
    ('npz_header_of_900_tib', 'empty', lambda w, t: _forged_npz(f'{t}/f.npz'),
     'train', ['--dataset=npz:{tmp}/f.npz'],
     'x_train declares .* bytes\\) but holds .* damaged'),
    ('classes_not_utf8', 'empty',
     lambda w, t: (_text_dir(f'{t}/text'),
                   _write(f'{t}/text/classes.txt', b'\xff\xfe\x00A\n')),
     'train', ['--dataset=textcsv:{tmp}/text'], 'classes.txt is not UTF-8'),
    # Saved configs of the wrong types.
    ('config_units_a_string', 'run',
     lambda w, t: _edit_config(w, lstm_units='8'), 'evaluate', [],
     "field lstm_units is '8', not an integer"),
    ('config_dataset_a_number', 'run',
     lambda w, t: _edit_config(w, dataset=5), 'train', [],
     'field dataset is 5, not a string'),
    ('config_nan_learning_rate', 'run',
     lambda w, t: _edit_config(w, learning_rate=float('nan')), 'evaluate', [],
     '--learning_rate must be a finite number'),
    # Workdir layouts.
    ('workdir_name_too_long', 'empty', None, 'train',
     ['--workdir={tmp}/' + 'x' * 300], 'has 300 bytes'),
    ('workdir_under_a_file', 'empty', None, 'train',
     ['--workdir={workdir}/keep.txt/run'], 'keep.txt is a file, so no '
     'directory can be made under it'),
    ('workdir_symlink_loop', 'empty',
     lambda w, t: os.symlink(f'{t}/loop', f'{t}/loop'), 'train',
     ['--workdir={tmp}/loop'], 'is a symbolic link loop'),
    ('checkpoints_a_file', 'empty',
     lambda w, t: _write(f'{w}/checkpoints', 'x'), 'train', [],
     'checkpoints must be a directory'),
    ('metrics_a_directory', 'empty',
     lambda w, t: os.makedirs(f'{w}/metrics.jsonl'), 'train', [],
     'metrics.jsonl must be a regular file'),
    ('checkpoint_files_but_none_complete', 'run',
     lambda w, t: _leave_partial_checkpoint(w), 'train', [],
     'holds checkpoint files \\(ckpt-2.index\\) but no complete checkpoint'),
    # Tools that read runs never write into them.
    ('report_output_a_directory', 'run', None, 'report',
     ['--runs={workdir}', '--output={tmp}'], 'is a directory'),
    ('report_output_into_a_run', 'run', None, 'report',
     ['--runs={workdir}', '--output={workdir}/config.json'],
     'inside the run directory'),
    ('import_arrays_data_dir_a_file', 'empty', None, 'import_arrays',
     ['--name=mnist', '--npz={npz}', '--data_dir={workdir}/keep.txt'],
     'keep.txt is a file, not a directory'),
)


# Cases run side by side: each is a subprocess that spends most of its time
# importing TensorFlow on one core, so the catalogue takes about half as
# long on two cores as one after another.
PARALLEL = (os.cpu_count() or 1) + 1


class BadInputTest(testing.TinyRunTestCase, parameterized.TestCase):
  """Every case of CASES, each from its own copy of the tiny run (or an
  empty or file workdir), all run in `setUpClass`; each test checks one."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    commands = {name: cls._prepare(name, *case)
                for name, *case in CASES}
    with futures.ThreadPoolExecutor(PARALLEL) as pool:
      attempts = pool.map(lambda command: testing.attempt(*command),
                          commands.values())
      cls.attempts = dict(zip(commands, attempts))

  @classmethod
  def _prepare(cls, name, holds, damage, program, flags, message):
    """Makes the case's directory; (program, workdir, *args) to run."""
    del message
    tmp = os.path.join(cls.template, 'cases', name)
    os.makedirs(tmp)
    workdir = os.path.join(tmp, 'run')
    if holds == 'run':
      shutil.copytree(cls.run_dir, workdir)
    elif holds == 'file':
      _write(workdir, 'not a directory')
    else:
      os.makedirs(workdir)
      _write(os.path.join(workdir, 'keep.txt'), 'precious')
    if damage:
      damage(workdir, tmp)
    flags = [f.format(workdir=workdir, tmp=tmp, npz=cls.npz) for f in flags]
    args = [f'--workdir={workdir}'] if program in ('train', 'evaluate') else []
    if program == 'train':
      args += [f'--dataset=npz:{cls.npz}', *testing.TINY_FLAGS,
               '--train_steps=4']
    return (program, workdir, *args, *flags)

  def test_catalogue_has_sixty_distinct_cases(self):
    self.assertGreaterEqual(len({case[0] for case in CASES}), 60)
    self.assertLen({case[0] for case in CASES}, len(CASES))

  @parameterized.named_parameters(*[(case[0], case[0], case[-1])
                                    for case in CASES])
  def test_fails_in_one_line_and_keeps_the_workdir(self, name, message):
    self.assertRegex(self.assertRefusal(self.attempts[name]), message)


if __name__ == '__main__':
  tf.test.main()
