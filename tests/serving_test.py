"""The raw-input endpoint: images (or texts) through the run's own
preprocessing inside the served graph, equal to `predict`'s pipeline, and
`predict --inputs` on .npy arrays and image files."""

import csv
import os
import types

from absl.testing import parameterized
import numpy as np
from PIL import Image
import tensorflow as tf

from r_lstm import configs, export_lib, images, input_pipeline, serving
from r_lstm import text_data, train_lib
from r_lstm import trainer as trainer_lib
from tests import testing


def _read_csv(path):
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def _probabilities(rows):
  columns = sorted((c for c in rows[0] if c.startswith('p_')),
                   key=lambda c: int(c[2:]))
  return np.array([[float(row[c]) for c in columns] for row in rows])


class TokensTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.product(grayscale=[False, True], image_size=[None, 3, 6],
                         permuted=[False, True])
  def test_image_tokens_equal_the_training_pipeline(self, grayscale,
                                                    image_size, permuted):
    raw = np.random.RandomState(0).randint(0, 256, (5, 6, 6, 3)).astype(
        np.uint8)
    expected, _ = images.pixel_sequences(raw, image_size, grayscale)
    permutation = (input_pipeline.pixel_permutation(3, expected.shape[1])
                   if permuted else None)
    if permuted:
      expected = expected[:, permutation]
    config = configs.Config(image_size=image_size, grayscale=grayscale)
    data = types.SimpleNamespace(channels=expected.shape[-1],
                                 permutation=permutation)
    served = tf.function(
        lambda x: serving.image_tokens(x, config, data),
        input_signature=[tf.TensorSpec([None] * 4, tf.uint8)])
    self.assertAllEqual(served(raw), expected)
    self.assertAllEqual(serving.image_tokens(raw, config, data), expected)

  @parameterized.parameters(None, 5)
  def test_text_tokens_equal_the_csv_reader(self, max_length):
    directory = self.create_tempdir().full_path
    testing.write_files(directory, {'train.csv': testing.TRAIN_CSV,
                                    'test.csv': testing.TEST_CSV})
    train, _, _ = text_data.load(directory, max_length)
    with open(os.path.join(directory, 'train.csv'), newline='',
              encoding='utf-8') as f:
      texts = [' '.join(row[1:]) for row in csv.reader(f)]
    config = configs.Config(dataset=f'textcsv:{directory}',
                            max_length=max_length)
    tokens, lengths = serving.text_tokens(tf.constant(texts), config)
    self.assertAllEqual(lengths, train.lengths)
    self.assertAllEqual(tokens, train.tokens[:, :tokens.shape[1]])


class RefusedTokensTest(tf.test.TestCase, parameterized.TestCase):
  """Every endpoint refuses what the model has no weights for, in eager
  execution and under the export's signature, with the same sentence."""

  def probabilities(self, backbone, channels, traced):
    config = testing.TINY_CONFIG.replace(
        backbone=backbone,
        auxiliary='none' if backbone == 'transformer' else 'reconstruction')
    model = trainer_lib.build_model(config,
                                    testing.tiny_data(channels=channels))
    probabilities = serving.probabilities_of(model)
    if traced:
      probabilities = tf.function(
          probabilities, input_signature=export_lib.serving_signature(channels))
    return probabilities

  def assertRefused(self, probabilities, tokens, sentence):
    with self.assertRaises(tf.errors.InvalidArgumentError) as refused:
      probabilities(tf.constant(tokens, tf.int32),
                    tf.fill([len(tokens)], len(tokens[0])))
    self.assertEqual(serving.refusal(refused.exception), sentence)

  @parameterized.parameters(False, True)
  def test_tokens_outside_the_vocabulary(self, traced):
    # With 3 channels, token 256 of the red channel is row 0 of the green
    # channel's table: without the check it would be scored, wrongly.
    probabilities = self.probabilities('lstm', 3, traced)
    for token in (256, -1):
      self.assertRefused(probabilities, np.full((2, 8, 3), token),
                         "a token is outside the model's vocabulary 0..255")
    self.assertEqual(
        probabilities(tf.fill([2, 8, 3], 255), tf.fill([2], 8))[
            'probabilities'].shape, (2, 2))

  @parameterized.parameters(False, True)
  def test_sequences_longer_than_the_position_table(self, traced):
    probabilities = self.probabilities('transformer', 1, traced)
    self.assertRefused(probabilities, np.zeros((2, 8 + 1, 1)),
                       'the model reads at most 8 steps')


class RawEndpointTest(tf.test.TestCase):
  """A colour run read grey at 3 x 3, exported: its image endpoint, the
  workdir's and `predict` on the dataset agree."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tf.compat.v1.test.get_temp_dir()
    rng = np.random.RandomState(0)
    cls.arrays = {
        f'x_{split}': rng.randint(0, 256, (n, 6, 6, 3)).astype(np.uint8)
        for split, n in (('train', 16), ('test', 7))}
    for split in ('train', 'test'):
      cls.arrays[f'y_{split}'] = (
          cls.arrays[f'x_{split}'][:, -1, -1, 0] > 127).astype(np.uint8)
    cls.npz = os.path.join(cls.root, 'colour.npz')
    np.savez(cls.npz, **cls.arrays)
    cls.run_dir = os.path.join(cls.root, 'run')
    cls.export_dir = os.path.join(cls.root, 'export')
    for module, args in (
        ('r_lstm.train', [f'--workdir={cls.run_dir}',
                          f'--dataset=npz:{cls.npz}', '--grayscale',
                          '--image_size=3', *testing.TINY_FLAGS,
                          '--train_steps=2']),
        ('r_lstm.export', [f'--workdir={cls.run_dir}',
                           f'--output={cls.export_dir}'])):
      result = testing.run_module(module, *args)
      assert result.returncode == 0, result.stderr[-3000:]

  def predict(self, *args):
    output = os.path.join(self.create_tempdir().full_path, 'p.csv')
    result = testing.run_module('r_lstm.predict', *args, f'--output={output}')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    return _read_csv(output)

  def test_image_endpoint_equals_predict_on_the_dataset(self):
    expected = _probabilities(self.predict(f'--model={self.export_dir}'))
    served = tf.saved_model.load(self.export_dir)
    probabilities = served.signatures[serving.IMAGES_ENDPOINT](
        images=tf.constant(self.arrays['x_test']))['probabilities']
    self.assertAllClose(probabilities, expected, atol=1e-5)
    run = train_lib.load_trained(self.run_dir)
    tokens = serving.image_tokens(self.arrays['x_test'], run.config, run.data)
    self.assertAllEqual(tokens, run.data.test.tokens)

  def test_predict_scores_npy_arrays_and_image_files(self):
    directory = self.create_tempdir().full_path
    np.save(os.path.join(directory, 'test.npy'), self.arrays['x_test'])
    for index in (0, 1):
      Image.fromarray(self.arrays['x_test'][index]).save(
          os.path.join(directory, f'image_{index}.png'))
    expected = _probabilities(self.predict(f'--model={self.export_dir}'))
    for model in (self.export_dir, self.run_dir):
      rows = self.predict(f'--model={model}',
                          f'--inputs={directory}/*.png,'
                          f'{directory}/test.npy')
      self.assertEqual([row['input'] for row in rows],
                       [f'{directory}/image_0.png', f'{directory}/image_1.png']
                       + [f'{directory}/test.npy:{i}' for i in range(7)])
      self.assertAllClose(_probabilities(rows),
                          np.concatenate([expected[:2], expected]),
                          atol=1e-5, msg=model)

  def test_predict_refuses_inputs_it_cannot_score(self):
    directory = self.create_tempdir().full_path
    bad = os.path.join(directory, 'two_channels.npy')
    np.save(bad, np.zeros((2, 4, 4, 2), np.uint8))
    output = os.path.join(directory, 'p.csv')
    for args, message in (
        ([f'--inputs={bad}'], 'uint8 images [N, H, W] or [N, H, W, C]'),
        ([f'--inputs={directory}/*.png'], 'no file'),
        ([f'--inputs={bad}', f'--dataset=npz:{self.npz}'], 'one or the other')):
      result = testing.run_module('r_lstm.predict', f'--model={self.export_dir}',
                                  *args, f'--output={output}')
      self.assertEqual(result.returncode, 2, msg=result.stderr)
      lines = result.stderr.strip().splitlines()
      self.assertLen(lines, 1, msg=result.stderr)
      self.assertIn(message, lines[0])
      self.assertFalse(os.path.exists(output))


class TextEndpointTest(tf.test.TestCase):

  def test_text_endpoint_equals_predict_on_the_dataset(self):
    root = self.create_tempdir().full_path
    directory = os.path.join(root, 'text')
    testing.write_files(directory, {'train.csv': testing.TRAIN_CSV,
                                    'test.csv': testing.TEST_CSV})
    run_dir, export_dir = os.path.join(root, 'run'), os.path.join(root, 'ex')
    for module, args in (
        ('r_lstm.train', [f'--workdir={run_dir}',
                          f'--dataset=textcsv:{directory}', '--max_length=5',
                          *testing.TINY_FLAGS, '--train_steps=2']),
        ('r_lstm.export', [f'--workdir={run_dir}', f'--output={export_dir}'])):
      result = testing.run_module(module, *args)
      self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    output = os.path.join(root, 'p.csv')
    result = testing.run_module('r_lstm.predict', f'--model={export_dir}',
                                f'--output={output}')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    with open(os.path.join(directory, 'test.csv'), newline='',
              encoding='utf-8') as f:
      texts = [' '.join(row[1:]) for row in csv.reader(f)]
    served = tf.saved_model.load(export_dir)
    probabilities = served.signatures[serving.TEXT_ENDPOINT](
        texts=tf.constant(texts))['probabilities']
    self.assertAllClose(probabilities, _probabilities(_read_csv(output)),
                        atol=1e-5)


if __name__ == '__main__':
  tf.test.main()
