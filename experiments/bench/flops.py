r"""Achieved GFLOP/s of the r-LSTM update's two phases vs this CPU's peak.

  python -m experiments.bench.flops --output=docs/bench/flops.json

Peak: the best of a large square float32 matmul (--peak_size) in a
tf.function. Phases of one r-LSTM T300 update (T=784, l=600, decoder
2 x 256) at each batch size, each timed alone as a tf.function computing
its gradients:
- main LSTM: the gradient-free capture pass, then the supervised window
  (last 300 steps) and the anchor window (300 steps before each anchor)
  forward and backward;
- decoder: the 2 x 256 LSTM decoder and its 256-256 head over the 599
  teacher-forced steps of every anchor, forward and backward.
FLOPs count the matrix products only (2mnk each; a backward pass costs
twice its forward), so element-wise gate work counts as overhead. Also the
rate of one matmul of each phase's per-step shape, run back to back: the
best a step-by-step recurrence of that size could reach here.

The matmul bound of a phase: its sequential products (each step's
`h @ W_h` forward and `dz @ W_hᵀ` backward, which wait for the step
before) at that per-step rate, plus the rest (input projections, weight
gradients, the decoder's head: large products over all steps) at the
peak rate. No implementation of the same arithmetic in float32 can take
less time here; `fraction_of_bound` is how close the phase comes.
"""

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from experiments.bench import common
from r_lstm import trainer as trainer_lib
from r_lstm import unroll

flags.DEFINE_list('batch_sizes', ['32', '64'], 'Batch sizes.')
flags.DEFINE_integer('length', 784, 'Sequence length.')
flags.DEFINE_integer('peak_size', 2048, 'Square matmul size for the peak.')
flags.DEFINE_integer('repeats', 5, 'Timed calls (median reported).')
flags.DEFINE_string('output', 'docs/bench/flops.json', 'JSON results.')

FLAGS = flags.FLAGS


def matmul_gflops(m: int, k: int, n: int, iterations: int) -> float:
  """GFLOP/s of `iterations` dependent (m x k) @ (k x n) products."""
  a = tf.random.normal([m, k])
  b = tf.random.normal([k, n]) / np.sqrt(k)

  @tf.function
  def chain(a):
    total = tf.zeros([m, n])
    for _ in tf.range(iterations):
      total += tf.matmul(a, b)
    return total

  seconds = common.median_seconds(lambda: chain(a).numpy(), FLAGS.repeats, 1)
  return 2 * m * k * n * iterations / seconds / 1e9


def phase_functions(trainer, batch_size):
  """(main phase fn, its matmul FLOPs, of which sequential, decoder phase
  fn, its FLOPs, of which sequential)."""
  model, config, split = trainer.model, trainer.config, trainer.data.train
  inputs = tf.transpose(tf.constant(split.tokens), [1, 0, 2])
  lengths = tf.constant(split.lengths)
  anchors = tf.constant(np.random.RandomState(0).randint(
      config.aux_length, FLAGS.length + 1, [batch_size, 1]), tf.int32)
  encoder = model.encoder
  windows = [unroll.Window.last_steps(lengths, config.bptt),
             model.reconstructor.window(anchors)]

  @tf.function
  def main_phase():
    with tf.GradientTape() as tape:
      results = unroll.run_windows(encoder.core(), inputs, windows,
                                   [False, False])
      loss = tf.add_n([tf.add_n([tf.reduce_sum(part) for part in state])
                       for state in results])
    return tape.gradient(loss, encoder.trainable_variables)

  units, embed = config.lstm_units, config.embed_dim
  vocab = trainer.data.vocab_size
  capture_steps = int(max(FLAGS.length - config.bptt,
                          int(tf.reduce_max(anchors)) - config.aux_bptt))
  step = 2 * batch_size * units * 4 * units
  main_flops = (capture_steps * step
                + 3 * (config.bptt + config.aux_bptt) * step
                + 3 * 2 * vocab * embed * 4 * units)  # the projection table
  # The capture pass, and each window's forward step and backward dh.
  main_sequential = (capture_steps + 2 * (config.bptt + config.aux_bptt)
                     ) * step

  decoder = model.reconstructor
  state = (tf.random.normal([batch_size, units]),
           tf.random.normal([batch_size, units]))
  segment = tf.random.uniform([config.aux_length, batch_size, 1], 0, vocab,
                              tf.int32)

  @tf.function
  def decoder_phase():
    with tf.GradientTape() as tape:
      loss, _, _ = decoder(state, segment, None, encoder.embedding)
      loss = tf.reduce_mean(loss)
    return tape.gradient(loss, decoder.trainable_variables)

  d = config.decoder_units
  head_sizes = (d, *config.decoder_head_units, vocab)
  per_step = (2 * batch_size * d * 4 * d  # bottom recurrent
              + (config.decoder_layers - 1) * 2 * (2 * batch_size * d * 4 * d)
              + 2 * batch_size * sum(m * n for m, n in zip(head_sizes,
                                                           head_sizes[1:])))
  decoder_flops = 3 * ((config.aux_length - 1) * per_step
                       + 2 * 2 * batch_size * units * d)
  decoder_sequential = (2 * config.decoder_layers * (config.aux_length - 1)
                        * 2 * batch_size * d * 4 * d)
  return (main_phase, main_flops, main_sequential, decoder_phase,
          decoder_flops, decoder_sequential)


def main(argv):
  del argv
  peak = matmul_gflops(FLAGS.peak_size, FLAGS.peak_size, FLAGS.peak_size, 10)
  print(f'peak matmul: {peak:.1f} GFLOP/s ({FLAGS.peak_size}^2 float32)')
  rows = []
  for batch_size in (int(b) for b in FLAGS.batch_sizes):
    config = common.config('r_lstm_t300', batch_size)
    trainer = trainer_lib.Trainer(
        config, common.synthetic_data(batch_size, FLAGS.length))
    (main_fn, main_flops, main_sequential, decoder_fn, decoder_flops,
     decoder_sequential) = phase_functions(trainer, batch_size)
    d, u = config.decoder_units, config.lstm_units
    for phase, fn, flops, sequential, shape in (
        ('main LSTM', main_fn, main_flops, main_sequential,
         (batch_size, u, 4 * u)),
        ('decoder', decoder_fn, decoder_flops, decoder_sequential,
         (batch_size, d, 4 * d))):
      seconds = common.median_seconds(fn, FLAGS.repeats, 1)
      step_rate = matmul_gflops(*shape, 600)
      bound = (sequential / step_rate + (flops - sequential) / peak) / 1e9
      row = {'phase': phase, 'batch': batch_size, 'seconds': seconds,
             'gflop': flops / 1e9, 'gflops_per_s': flops / seconds / 1e9,
             'sequential_gflop': sequential / 1e9,
             'step_matmul_gflops_per_s': step_rate,
             'peak_gflops_per_s': peak, 'bound_seconds': bound,
             'fraction_of_bound': bound / seconds}
      row['fraction_of_peak'] = row['gflops_per_s'] / peak
      print(row, flush=True)
      rows.append(row)
  common.report(FLAGS.output, rows, [
      'phase', 'batch', 'seconds', 'gflop', 'gflops_per_s',
      'sequential_gflop', 'step_matmul_gflops_per_s', 'peak_gflops_per_s',
      'fraction_of_peak', 'bound_seconds', 'fraction_of_bound'])


if __name__ == '__main__':
  app.run(main)
