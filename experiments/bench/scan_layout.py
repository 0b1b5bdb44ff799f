r"""Where the input projection of a recurrent layer belongs, for speed.

  python -m experiments.bench.scan_layout --output=docs/bench/scan_layout.json

Times forward + backward (sum of squared outputs, gradients of the inputs and
of every weight) of one LSTM layer over a block of inputs, three ways, in
turn in one process (round-robin, median), at the decoder's shape and the
main window's:

- `unroll.scan`: the block projected in one matmul before the loop (today's
  layout: the loop reads (L, N, 4u) projections);
- projection in the loop: each step multiplies its own (N, in) input, as
  `keras.layers.LSTM` does;
- `keras.layers.LSTM` with the same weights.

All three are checked to give the same gradients first.
"""

import statistics

from absl import app
from absl import flags
import keras
import tensorflow as tf

from experiments.bench import common
from r_lstm import cells, unroll

flags.DEFINE_integer('rounds', 9, 'Timed calls per layout (median).')
flags.DEFINE_string('output', 'docs/bench/scan_layout.json', 'JSON results.')
FLAGS = flags.FLAGS

# (name, batch, steps, units, input size): a decoder layer (l = 200) and
# the main window (K = 300) of the headline setting.
SHAPES = (('decoder layer', 32, 200, 256, 256),
          ('main window', 32, 300, 128, 128))


def projected_in_loop(cell, inputs, state):
  """`unroll.scan`'s loop with each step projecting its own input."""
  length = tf.shape(inputs)[0]
  inputs = tf.TensorArray(inputs.dtype, size=length).unstack(inputs)
  outputs = tf.TensorArray(tf.float32, size=length)

  def body(j, state, outputs):
    state = tuple(cell.step(cell.project(inputs.read(j)), state))
    return j + 1, state, outputs.write(j, cell.output(state))

  _, _, outputs = tf.while_loop(lambda j, *_: j < length, body,
                                (tf.constant(0), tuple(state), outputs))
  return outputs.stack()


def layouts(batch, steps, units, input_dim):
  cell = cells.LSTMCell(input_dim, units)
  layer = keras.layers.LSTM(units, return_sequences=True)
  x = tf.random.stateless_normal([steps, batch, input_dim], [0, 1])
  layer(tf.transpose(x, [1, 0, 2]))
  for source, target in zip((cell.kernel, cell.recurrent_kernel, cell.bias),
                            (layer.cell.kernel, layer.cell.recurrent_kernel,
                             layer.cell.bias)):
    target.assign(source)
  state = (tf.random.stateless_normal([batch, units], [0, 2]),
           tf.random.stateless_normal([batch, units], [0, 3]))

  def gradients(run, weights):
    @tf.function
    def call():
      with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(run() ** 2)
      return tape.gradient(loss, [x] + weights)
    return call

  weights = [cell.kernel, cell.recurrent_kernel, cell.bias]
  return {
      'unroll.scan': gradients(lambda: unroll.scan(
          cell, cell.project(x), state, return_outputs=True)[1], weights),
      'projection in the loop': gradients(
          lambda: projected_in_loop(cell, x, state), weights),
      'keras.layers.LSTM': gradients(lambda: tf.transpose(layer(
          tf.transpose(x, [1, 0, 2]), initial_state=list(state)), [1, 0, 2]),
                                     layer.trainable_weights)}


def main(argv):
  del argv
  rows = []
  for name, batch, steps, units, input_dim in SHAPES:
    runs = layouts(batch, steps, units, input_dim)
    reference = [g.numpy() for g in runs['unroll.scan']()]
    for layout, run in runs.items():
      for got, want in zip(run(), reference):
        tf.debugging.assert_near(got, want, atol=1e-3, rtol=1e-4,
                                 message=layout)
    seconds = common.round_robin_seconds(
        {layout: lambda run=run: [g.numpy() for g in run()]
         for layout, run in runs.items()}, FLAGS.rounds)
    yardstick = statistics.median(seconds['unroll.scan'])
    for layout, times in seconds.items():
      row = {'shape': name, 'batch': batch, 'steps': steps, 'units': units,
             'layout': layout, 'ms': 1000 * statistics.median(times)}
      row['over_scan'] = row['ms'] / 1000 / yardstick
      print(row, flush=True)
      rows.append(row)
  common.report(FLAGS.output, rows, ['shape', 'batch', 'steps', 'units',
                                     'layout', 'ms', 'over_scan'])


if __name__ == '__main__':
  app.run(main)
