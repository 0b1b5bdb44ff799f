r"""Does a trained r-LSTM decoder read the anchor state?

  python -m experiments.anchor_state_use --workdir=runs/mnist_auxiliary/r_lstm_k300

Scores the reconstruction of the segments before fixed anchors on the first
--examples evaluation sequences three times: decoder started from the true
main state at the anchor, from another example's state, and from zeros. Equal
losses mean the decoder ignores the anchor state, so the reconstruction loss
puts no pressure on the main LSTM to remember. The decoder is fed as it was
trained only when --feed_rate is given; by default it is teacher-forced. A
decoder trained with sampled unfed inputs reads its own samples (one fixed
seed) where the feed mask says so.
"""

from absl import app
from absl import flags
import tensorflow as tf

from r_lstm import evaluate, unroll
from r_lstm.objectives import reconstruction

# --workdir comes with r_lstm.evaluate.
flags.DEFINE_list('anchors', ['300', '500', '700'], 'Anchor positions.')
flags.DEFINE_integer('examples', 256, 'Evaluation sequences to use.')
flags.DEFINE_float('feed_rate', 1.0, 'Decoder feed rate for this check.')

FLAGS = flags.FLAGS


def main(argv):
  del argv
  run, _ = evaluate.evaluate_workdir(FLAGS.workdir)
  model = run.model
  decoder = model.reconstructor
  if decoder is None:
    raise app.UsageError(f'{FLAGS.workdir} has no reconstruction decoder')
  split = run.data.test
  inputs = tf.transpose(tf.constant(split.tokens[:FLAGS.examples]), [1, 0, 2])
  rows = inputs.shape[1]
  length = decoder.aux_length
  feed = reconstruction.feed_mask(length - 1, rows, FLAGS.feed_rate,
                                  tf.constant([0, 0], tf.int64))
  print('| anchor | true state | another example\'s state | zero state |')
  print('|---|---|---|---|')
  for anchor in (int(a) for a in FLAGS.anchors):
    h, c = unroll.capture_states(model.encoder.core(), inputs,
                                 tf.fill([rows, 1], anchor))
    h, c = h[:, 0], c[:, 0]
    # The segment in the order the decoder was trained to read it.
    segment = unroll.gather_steps(
        inputs, tf.range(rows),
        decoder.segment_steps(tf.fill([rows], anchor)))
    losses = []
    for state in ((h, c), (tf.roll(h, 1, 0), tf.roll(c, 1, 0)),
                  (tf.zeros_like(h), tf.zeros_like(c))):
      loss, _, _ = decoder(state, segment, feed, model.encoder.embedding,
                           tf.constant([0, 1], tf.int64))
      losses.append(float(tf.reduce_mean(loss)))
    print(f'| {anchor} | ' + ' | '.join(f'{l:.4f}' for l in losses) + ' |')


if __name__ == '__main__':
  app.run(main)
