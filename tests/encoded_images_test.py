"""Decoding an .npz of encoded images once (`r_lstm.decode_images`)."""

import io
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image
import tensorflow as tf

from r_lstm import arrays as arrays_lib
from r_lstm import encoded_images
from r_lstm.errors import UsageError


def encode(images, image_format):
  """(bytes uint8, offsets int64) of the images as one file each."""
  files = []
  for image in images:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=image_format)
    files.append(np.frombuffer(buffer.getvalue(), np.uint8))
  offsets = np.concatenate([[0], np.cumsum([len(f) for f in files])])
  return np.concatenate(files), offsets.astype(np.int64)


def write_encoded(path, image_format='PNG', train=5, test=3):
  rng = np.random.RandomState(0)
  images = {split: rng.randint(0, 256, (n, 8, 8, 3)).astype(np.uint8)
            for split, n in (('train', train), ('test', test))}
  arrays = {}
  for split, split_images in images.items():
    arrays[f'jpeg_{split}'], arrays[f'offsets_{split}'] = encode(
        split_images, image_format)
    arrays[f'y_{split}'] = np.arange(len(split_images), dtype=np.uint8) % 10
  np.savez(path, **arrays)
  return images, arrays


class DecodeTest(tf.test.TestCase):

  def test_lossless_files_decode_to_the_images_with_a_record(self):
    root = self.create_tempdir().full_path
    source, output = os.path.join(root, 'in.npz'), os.path.join(root,
                                                                 'out.npz')
    images, arrays = write_encoded(source)
    record = encoded_images.decode_npz(source, output)
    decoded = arrays_lib.read_npz(output)
    for split in encoded_images.SPLITS:
      self.assertAllEqual(decoded[f'x_{split}'], images[split])
      self.assertAllEqual(decoded[f'y_{split}'], arrays[f'y_{split}'])
      self.assertEqual(record['sha256'][f'x_{split}'],
                       encoded_images.array_sha256(images[split]))
    with open(f'{output}.json') as f:
      self.assertEqual(json.load(f), record)
    self.assertStartsWith(record['decoder'], 'Pillow ')
    self.assertEqual(record['source_sha256']['jpeg_train'],
                     encoded_images.array_sha256(arrays['jpeg_train']))

  def test_jpeg_decodes_as_pillow_decodes_each_file(self):
    root = self.create_tempdir().full_path
    source, output = os.path.join(root, 'in.npz'), os.path.join(root,
                                                                 'out.npz')
    _, arrays = write_encoded(source, 'JPEG')
    encoded_images.decode_npz(source, output)
    decoded = arrays_lib.read_npz(output)['x_test']
    offsets = arrays['offsets_test']
    for i in range(len(decoded)):
      one = arrays['jpeg_test'][offsets[i]:offsets[i + 1]].tobytes()
      self.assertAllEqual(decoded[i],
                          np.array(Image.open(io.BytesIO(one)).convert('RGB')))

  def test_damaged_inputs_are_one_usage_error_and_write_nothing(self):
    root = self.create_tempdir().full_path
    source, output = os.path.join(root, 'in.npz'), os.path.join(root,
                                                                 'out.npz')
    _, arrays = write_encoded(source)
    cases = {
        'offsets must rise': dict(arrays, offsets_train=arrays[
            'offsets_train'][::-1]),
        'does not decode': dict(arrays, jpeg_train=np.zeros_like(
            arrays['jpeg_train'])),
        'one label per image': dict(arrays, y_test=arrays['y_test'][:1]),
        r"lacks arrays \['offsets_test'\]": {
            k: v for k, v in arrays.items() if k != 'offsets_test'},
    }
    for expected, bad in cases.items():
      with self.subTest(expected):
        np.savez(source, **bad)
        with self.assertRaisesRegex(UsageError, expected):
          encoded_images.decode_npz(source, output)
        self.assertFalse(os.path.exists(output))
        self.assertEqual([name for name in os.listdir(root)
                          if name != 'in.npz'], [])

  def test_command_line_writes_and_says_where(self):
    root = self.create_tempdir().full_path
    source, output = os.path.join(root, 'in.npz'), os.path.join(root, 'o',
                                                                 'out.npz')
    write_encoded(source)
    done = subprocess.run(
        [sys.executable, '-m', 'r_lstm.decode_images', f'--input={source}',
         f'--output={output}'], capture_output=True, text=True, check=False)
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertIn(f'Wrote {output}', done.stdout)
    self.assertTrue(os.path.exists(f'{output}.json'))
    missing = subprocess.run(
        [sys.executable, '-m', 'r_lstm.decode_images',
         f'--input={root}/none.npz', f'--output={output}'],
        capture_output=True, text=True, check=False)
    self.assertEqual(missing.returncode, 2)
    self.assertEqual(len(missing.stderr.strip().splitlines()), 1,
                     missing.stderr)
    self.assertIn('r_lstm.decode_images: error:', missing.stderr)


if __name__ == '__main__':
  tf.test.main()
