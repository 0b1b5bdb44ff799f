"""Tests of taking a model out of the project: the Keras format, the
SavedModel export and its serving signature, and `r_lstm.predict`."""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from r_lstm import encoders, export_lib, initializers
from r_lstm import cells, train_lib, transformer
from r_lstm import workdir as workdir_lib
from r_lstm import trainer as trainer_lib
from r_lstm.objectives import prediction, reconstruction
from tests import testing


def _tokens_and_lengths(batch=3, length=16, channels=1, seed=0):
  rng = np.random.default_rng(seed)
  tokens = rng.integers(0, 256, (batch, length, channels)).astype(np.int32)
  lengths = np.array([length, length // 2, 5][:batch], np.int32)
  return tokens, lengths


def _read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


# Every kind of model (backbone, auxiliary): no decoder, both decoders,
# the memory Transformer with both, the Transformer.
MODEL_KINDS = (('lstm', 'none'), ('lstm', 'both'),
               ('memory_transformer', 'both'), ('transformer', 'none'))


class KerasFormatTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(*MODEL_KINDS)
  def test_saved_and_loaded_model_gives_the_same_logits(self, backbone,
                                                        auxiliary):
    config = testing.TINY_CONFIG.replace(backbone=backbone,
                                         auxiliary=auxiliary, init='torch')
    trainer = trainer_lib.Trainer(config, testing.tiny_data())
    path = os.path.join(self.create_tempdir().full_path, 'model.keras')
    trainer.model.save(path)
    loaded = keras.models.load_model(path)
    self.assertIsInstance(loaded, type(trainer.model))
    tokens, lengths = _tokens_and_lengths(length=8)
    self.assertAllEqual(loaded(tokens, lengths), trainer.model(tokens, lengths))
    self.assertEqual(loaded.get_config(), trainer.model.get_config())

  @parameterized.parameters(*MODEL_KINDS)
  def test_predict_takes_tokens_and_lengths_as_one_input(self, backbone,
                                                         auxiliary):
    trainer = trainer_lib.Trainer(
        testing.TINY_CONFIG.replace(backbone=backbone, auxiliary=auxiliary),
        testing.tiny_data())
    tokens, lengths = _tokens_and_lengths(length=8)
    self.assertAllClose(trainer.model.predict((tokens, lengths), verbose=0),
                        trainer.model(tokens, lengths), atol=1e-6)

  @parameterized.named_parameters(
      ('cell', lambda: cells.LSTMCell(3, 5, initializers.Initialization(
          lstm_bias='torch'))),
      ('token_lstm', lambda: encoders.TokenLSTM(256, 2, 4, 5,
                                                own_embedding=False)),
      ('reconstruction', lambda: reconstruction.ReconstructionDecoder(
          256, 1, 4, 8, 6, 2, (6,), 'project', 'shared', 'sampled')),
      ('prediction', lambda: prediction.PredictionDecoder(256, 3, 8, 6, 3,
                                                        (6, 5))),
      ('encoder_block', lambda: transformer.EncoderBlock(8, 2, 16)))
  def test_every_layer_rebuilds_from_its_config(self, make):
    layer = make()
    rebuilt = type(layer).from_config(layer.get_config())
    self.assertEqual(rebuilt.get_config(), layer.get_config())
    self.assertEqual([tuple(w.shape) for w in rebuilt.weights],
                     [tuple(w.shape) for w in layer.weights])
    json.dumps(layer.get_config())  # Plain JSON, as .keras files hold.


class ExportTest(testing.TinyExportTestCase, parameterized.TestCase):

  def test_export_holds_a_saved_model_a_keras_file_and_the_config(self):
    self.assertIn('at step 2', self.export_stdout)
    self.assertTrue(export_lib.is_export(self.export_dir))
    self.assertEqual(export_lib.load_config(self.export_dir),
                     workdir_lib.read_saved_config(self.run_dir))
    model = keras.models.load_model(os.path.join(self.export_dir,
                                                 export_lib.KERAS_FILE))
    trained = train_lib.load_trained(self.run_dir).model
    tokens, lengths = _tokens_and_lengths()
    self.assertAllClose(model(tokens, lengths), trained(tokens, lengths),
                        atol=1e-6)

  def test_saved_model_serves_in_a_process_without_r_lstm(self):
    tokens, lengths = _tokens_and_lengths()
    inputs = os.path.join(self.create_tempdir().full_path, 'inputs.npz')
    np.savez(inputs, tokens=tokens, lengths=lengths)
    program = (
        'import sys, numpy as np, tensorflow as tf\n'
        f'arrays = np.load({inputs!r})\n'
        f'served = tf.saved_model.load({self.export_dir!r})\n'
        "signature = served.signatures['serving_default']\n"
        "out = signature(tokens=tf.constant(arrays['tokens']),\n"
        "                lengths=tf.constant(arrays['lengths']))\n"
        "assert not [m for m in sys.modules if m.startswith('r_lstm')]\n"
        "np.save(sys.stdout.buffer, out['probabilities'].numpy())\n")
    # Run from an empty directory with no PYTHONPATH: r_lstm is out of reach
    # unless installed, and the program checks it was never imported.
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['TF_CPP_MIN_LOG_LEVEL'] = '3'
    result = subprocess.run([sys.executable, '-c', program],
                            cwd=tempfile.mkdtemp(), env=env,
                            capture_output=True, timeout=300)
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    served = np.load(io.BytesIO(result.stdout))
    trained = train_lib.load_trained(self.run_dir).model
    self.assertAllClose(served, tf.nn.softmax(trained(tokens, lengths)),
                        atol=1e-6)
    self.assertAllClose(served.sum(-1), np.ones(len(tokens)), atol=1e-5)

  def test_keras_file_loads_after_a_plain_import_r_lstm(self):
    # Whatever comes next: Keras, TensorFlow (which imports Keras itself),
    # or Keras through TensorFlow's name for it.
    path = os.path.join(self.export_dir, export_lib.KERAS_FILE)
    for then in ('import keras', 'import tensorflow as tf\nkeras = tf.keras'):
      program = (f'import r_lstm\n{then}\n'
                 f'model = keras.models.load_model({path!r})\n'
                 'print(type(model).__name__)\n')
      result = subprocess.run([sys.executable, '-c', program],
                              cwd=testing.REPO, capture_output=True, text=True,
                              timeout=300, check=False)
      self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
      self.assertEqual(result.stdout.split()[-1], 'SequenceClassifier')

  def test_predict_from_the_workdir_and_from_the_export_agree(self):
    out = self.create_tempdir().full_path
    rows = {}
    for source, model_dir in (('workdir', self.run_dir),
                              ('export', self.export_dir)):
      path = os.path.join(out, f'{source}.csv')
      result = testing.run_module('r_lstm.predict', f'--model={model_dir}',
                                  f'--output={path}', '--batch_size=3')
      self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
      self.assertIn('10 examples', result.stdout)
      rows[source] = _read_csv(path)
    run = train_lib.load_trained(self.run_dir)
    test = run.data.test
    probabilities = tf.nn.softmax(run.model(test.tokens, test.lengths))
    for source, got in rows.items():
      self.assertLen(got, len(test), msg=source)
      self.assertEqual([int(r['label']) for r in got], list(test.labels))
      self.assertEqual([int(r['prediction']) for r in got],
                       list(np.argmax(probabilities, -1)))
      columns = [f'p_{k}' for k in range(probabilities.shape[1])]
      self.assertAllClose([[float(r[c]) for c in columns] for r in got],
                          probabilities, atol=1e-5, msg=source)

  def test_export_removes_what_a_killed_export_left(self):
    parent = self.create_tempdir().full_path
    # A dead process's staging directory (no process has PID 2**22 + 1
    # here: Linux's PID limit is 2**22), one of the earlier unnamed kind,
    # and a live process's (this one's), which must stay.
    dead = os.path.join(parent, f'.export-{2 ** 22 + 1}-abc')
    unnamed = os.path.join(parent, '.export-k2j4h1')
    live = os.path.join(parent, f'.export-{os.getpid()}-xyz')
    for path in (dead, unnamed, live):
      os.makedirs(os.path.join(path, 'variables'))
    result = testing.run_module('r_lstm.export', f'--workdir={self.run_dir}',
                                f'--output={parent}/export')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    self.assertEqual(sorted(os.listdir(parent)),
                     sorted(['export', os.path.basename(live)]))

  def test_predict_refuses_data_the_model_was_not_built_for(self):
    tmp = self.create_tempdir().full_path
    rng = np.random.RandomState(0)
    colour = os.path.join(tmp, 'colour.npz')
    np.savez(colour, x_train=rng.randint(0, 256, (4, 4, 4, 3), np.uint8),
             y_train=np.zeros(4, np.uint8),
             x_test=rng.randint(0, 256, (3, 4, 4, 3), np.uint8),
             y_test=np.zeros(3, np.uint8))
    many_classes = os.path.join(tmp, 'classes.npz')
    arrays = testing.write_tiny_npz(many_classes)
    np.savez(many_classes, **{**arrays, 'y_test': np.full(10, 5, np.uint8)})
    large_tokens = os.path.join(tmp, 'tokens.npz')
    np.savez(large_tokens, x_train=np.full((4, 16), 300, np.int32),
             y_train=np.zeros(4, np.uint8),
             x_test=np.full((3, 16), 300, np.int32),
             y_test=np.zeros(3, np.uint8))
    output = os.path.join(tmp, 'p.csv')
    for model in (self.run_dir, self.export_dir):
      for dataset, message in ((colour, 'has 3 channel\\(s\\) per step .* '
                                        'the model reads 1'),
                               (many_classes, 'has label 5, and the model has '
                                              '2 classes'),
                               (large_tokens, "npz:.*tokens.npz: a token is "
                                              "outside the model's vocabulary "
                                              "0..255$")):
        error = self.assertRefusedUntouched(
            'predict', self.template, f'--model={model}',
            f'--dataset=npz:{dataset}', f'--output={output}')
        self.assertRegex(error, message)
        self.assertFalse(os.path.exists(output))

  @parameterized.parameters('truncated_graph', 'no_variables')
  def test_predict_names_a_damaged_export(self, damage):
    damaged = os.path.join(self.create_tempdir().full_path, 'export')
    shutil.copytree(self.export_dir, damaged)
    if damage == 'truncated_graph':
      path = os.path.join(damaged, 'saved_model.pb')
      with open(path, 'rb') as f:
        graph = f.read()
      with open(path, 'wb') as f:
        f.write(graph[:len(graph) // 3])
    else:
      shutil.rmtree(os.path.join(damaged, 'variables'))
    error = self.assertRefusedUntouched(
        'predict', damaged, f'--model={damaged}',
        f'--output={os.path.join(self.create_tempdir().full_path, "p.csv")}')
    self.assertIn(f'{damaged} is a damaged export', error)

  def test_predict_refuses_a_saved_model_of_another_signature(self):
    foreign = os.path.join(self.create_tempdir().full_path, 'export')
    module = tf.Module()
    module.serve = tf.function(lambda x: {'probabilities': x * 2.0},
                               input_signature=[tf.TensorSpec([None],
                                                              tf.float32)])
    tf.saved_model.save(module, foreign,
                        signatures={'serving_default': module.serve})
    shutil.copy(os.path.join(self.export_dir, 'config.json'), foreign)
    error = self.assertRefusedUntouched(
        'predict', foreign, f'--model={foreign}',
        f'--output={os.path.join(self.create_tempdir().full_path, "p.csv")}')
    self.assertIn(f'{foreign} is not an r_lstm export: its serving signature '
                  "takes {'x'", error)

  def test_export_refuses_an_existing_output(self):
    self.assertRefusedUntouched('export', self.template,
                                f'--workdir={self.run_dir}',
                                f'--output={self.export_dir}')

  def test_predict_refuses_a_directory_that_is_no_model(self):
    error = self.assertRefusedUntouched(
        'predict', self.template, f'--model={self.template}',
        f'--output={os.path.join(self.create_tempdir().full_path, "p.csv")}')
    self.assertIn('holds no run', error)


if __name__ == '__main__':
  tf.test.main()
