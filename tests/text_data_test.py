"""Character-level CSV text (DBpedia layout) and token-sequence npz files."""

import os

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from r_lstm import configs, errors, input_pipeline, models, unroll
from tests.testing import CLASSES, TEST_CSV, TRAIN_CSV, write_files

class TextCsvTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path
    write_files(self.dir, {'train.csv': TRAIN_CSV, 'test.csv': TEST_CSV,
                           'classes.txt': CLASSES})

  def test_bytes_lengths_and_zero_based_labels(self):
    data = input_pipeline.load(configs.Config(dataset=f'textcsv:{self.dir}'))
    texts = ['Title one Plain content.',
             'Comma, inside He said "hi", then left.',
             'Zürich Line one\nline two — ok']
    encoded = [t.encode('utf-8') for t in texts]
    self.assertEqual(data.num_classes, 3)
    self.assertIsNone(data.image_shape)
    self.assertAllEqual(data.train.labels, [0, 2, 1])
    self.assertAllEqual(data.test.labels, [1, 0])
    self.assertAllEqual(data.train.lengths, [len(e) for e in encoded])
    self.assertGreater(len(encoded[2]), len(texts[2]))  # ü and — are 2-3 bytes.
    self.assertEqual(data.max_length, max(len(e) for e in encoded))
    for row, text in enumerate(encoded):
      got = data.train.tokens[row, :data.train.lengths[row], 0].tobytes()
      self.assertEqual(got, text)
      self.assertFalse(data.train.tokens[row, len(text):].any())
    self.assertEqual(data.test.tokens.shape[1], data.max_length)

  def test_max_length_keeps_the_first_bytes(self):
    data = input_pipeline.load(configs.Config(dataset=f'textcsv:{self.dir}',
                                              max_length=10))
    self.assertEqual(data.max_length, 10)
    self.assertAllEqual(data.train.lengths, [10, 10, 10])
    self.assertAllEqual(data.test.lengths, [3, 5])
    self.assertEqual(data.train.tokens[0, :, 0].tobytes(), b'Title one ')

  def test_dbpedia_reads_data_dir_or_its_dbpedia_csv_subdirectory(self):
    data = input_pipeline.load(configs.Config(dataset='dbpedia',
                                              data_dir=self.dir))
    self.assertLen(data.train, 3)
    parent = self.create_tempdir().full_path
    write_files(os.path.join(parent, 'dbpedia_csv'),
                {'train.csv': TRAIN_CSV, 'test.csv': TEST_CSV})
    data = input_pipeline.load(configs.Config(dataset='dbpedia',
                                              data_dir=parent))
    self.assertEqual(data.num_classes, 3)  # No classes.txt: largest label.
    with self.assertRaisesRegex(errors.UsageError, 'no train.csv in'):
      input_pipeline.load(configs.Config(
          dataset='dbpedia', data_dir=self.create_tempdir().full_path))

  @parameterized.named_parameters(
      ('bad_class', '"1","a","b"\n"x","a","b"\n', 'train.csv, line 2: class'),
      ('class_zero', '"0","a","b"\n', 'train.csv, line 1: class 0 is out'),
      ('class_above_classes_txt', '"4","a","b"\n',
       'train.csv, line 1: class 4 is out of range'),
      ('field_count', '"1","a","b"\n"2","a"\n',
       'train.csv, line 2: expected 3 fields'),
      ('line_after_quoted_newline', '"1","a\nb","c"\n"2","a"\n',
       'train.csv, line 3: expected 3 fields'),
      ('empty_split', '', 'train.csv has no rows'),
      ('unterminated_quote', '"1","a,"b\n', 'train.csv: malformed CSV'))
  def test_bad_rows_name_file_and_line(self, train_csv, message):
    write_files(self.dir, {'train.csv': train_csv})
    with self.assertRaisesRegex(errors.UsageError, message):
      input_pipeline.load(configs.Config(dataset=f'textcsv:{self.dir}'))

  def test_supervised_window_ends_at_each_examples_own_end(self):
    data = input_pipeline.load(configs.Config(dataset=f'textcsv:{self.dir}'))
    lengths = tf.constant(data.train.lengths)
    window = unroll.Window.last_steps(lengths, 8)
    self.assertAllEqual(window.end, data.train.lengths)
    self.assertAllEqual(window.start, data.train.lengths - 8)
    model = models.SequenceClassifier(
        data.num_classes, embed_dim=4, lstm_units=8, head_units=(16,), bptt=8)
    # Padding after an example's end changes nothing.
    tokens = data.train.tokens.copy()
    logits = model(tokens, lengths)
    for row, length in enumerate(data.train.lengths):
      tokens[row, length:] = 7
    self.assertAllClose(model(tokens, lengths), logits)


class TokenNpzTest(tf.test.TestCase):

  def test_integer_sequences_with_lengths(self):
    path = os.path.join(self.create_tempdir().full_path, 'tokens.npz')
    rng = np.random.RandomState(0)
    np.savez(path, x_train=rng.randint(0, 300, (5, 9)),
             len_train=np.array([9, 1, 4, 5, 9]), y_train=np.arange(5) % 3,
             x_test=rng.randint(0, 300, (2, 9)), y_test=np.array([0, 2]))
    data = input_pipeline.load(configs.Config(dataset=f'npz:{path}'))
    self.assertEqual(data.train.tokens.shape, (5, 9, 1))
    self.assertAllEqual(data.train.lengths, [9, 1, 4, 5, 9])
    self.assertAllEqual(data.test.lengths, [9, 9])
    self.assertEqual(data.num_classes, 3)
    self.assertGreater(data.vocab_size, 256)  # Tokens beyond bytes widen it.
    self.assertIsNone(data.image_shape)

  def test_bad_lengths(self):
    path = os.path.join(self.create_tempdir().full_path, 'tokens.npz')
    np.savez(path, x_train=np.zeros((2, 4), np.int32),
             len_train=np.array([0, 4]), y_train=np.array([0, 1]),
             x_test=np.zeros((1, 4), np.int32), y_test=np.array([1]))
    with self.assertRaisesRegex(errors.UsageError,
                                'len_train must give each row a length'):
      input_pipeline.load(configs.Config(dataset=f'npz:{path}'))


if __name__ == '__main__':
  tf.test.main()
