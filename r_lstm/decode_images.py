r"""Decodes an .npz of encoded images (JPEG or PNG files) once, into the
keras-layout arrays every r_lstm image path reads.

  python -m r_lstm.decode_images --input=../shared/datasets/cifar10_jpeg.npz \
      --output=data/cifar10_jpeg.npz
  python -m r_lstm.train --dataset=npz:data/cifar10_jpeg.npz ...

Writes `--output` (x_train, y_train, x_test, y_test) and `--output`.json: the
decoder (Pillow and its version) and the SHA-256 of every array read and
written, so that every number trained from it can say which decoding it
used (`r_lstm.encoded_images`).
"""

from absl import flags

# First: it imports TensorFlow without its start-up notices.
from r_lstm import cli  # pylint: disable=g-bad-import-order

from r_lstm import encoded_images
from r_lstm.errors import UsageError

flags.DEFINE_string('input', None, 'An .npz of encoded images: jpeg_train, '
                    'offsets_train, y_train and the same for test.')
flags.DEFINE_string('output', None, 'The keras-layout .npz to write.')

FLAGS = flags.FLAGS


@cli.usage_errors_exit('r_lstm.decode_images')
def main(argv):
  if len(argv) > 1:
    raise UsageError(f'unexpected arguments {argv[1:]}')
  cli.require_flags('input', 'output')
  record = encoded_images.decode_npz(FLAGS.input, FLAGS.output)
  shapes = ', '.join(f'{key} {shape}' for key, shape in
                     record['shapes'].items())
  print(f'Wrote {FLAGS.output} ({shapes}) with {record["decoder"]}; its '
        f'record: {FLAGS.output}.json')


if __name__ == '__main__':
  cli.run(main)
