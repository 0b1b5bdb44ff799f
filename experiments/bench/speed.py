r"""Seconds per update, ours vs the same update in PyTorch; evaluation rate.

  pip install -r experiments/bench/requirements.txt   # PyTorch, bench only
  python -m experiments.bench.speed --output=docs/bench/speed.json

For each variant (LSTM T300, LSTM full BP, r-LSTM T300 with l=600 and a
2 x 256 decoder) and batch size, on random pixels of length 784: single
updates of r_lstm's Trainer (the real training loop: distribution strategy,
metrics, clipping), one per --rnn_gradients value, and of `torch_reference`,
timed round-robin in one process (ours, PyTorch, ours, ... after --warmup
each), so that a machine that slows down or speeds up moves every side
alike; the medians of --repeats rounds and their ratios. Before timing,
`--check` copies our initial weights into the PyTorch model and compares
both losses on one batch with the same anchors, so the two really compute
the same update. Also reports how often our training loop was traced
(1 = no retracing) and evaluation throughput against training throughput.

Each framework gets the same threads (TensorFlow's default pools use every
core; torch.set_num_threads(os.cpu_count())).
"""

import os
import statistics

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from experiments.bench import common
from r_lstm import configs
from r_lstm import evaluator as evaluator_lib
from r_lstm import trainer as trainer_lib

flags.DEFINE_list('variants', list(common.VARIANTS), 'Variants to time.')
flags.DEFINE_list('batch_sizes', ['32', '64'], 'Batch sizes.')
flags.DEFINE_integer('length', 784, 'Sequence length.')
flags.DEFINE_integer('repeats', 7, 'Timed updates (median reported).')
flags.DEFINE_integer('warmup', 2, 'Untimed updates first (tracing).')
flags.DEFINE_bool('torch', True, 'Also time the PyTorch equivalent.')
flags.DEFINE_bool('check', True, 'Check both compute the same losses first.')
flags.DEFINE_integer('eval_examples', 2000, 'Sequences scored for the '
                     'evaluation rate.')
flags.DEFINE_integer('eval_batch_size', 500, 'Evaluation batch.')
flags.DEFINE_enum('decoder_rnn', 'auto', configs.DECODER_RNNS,
                  'How our decoders run their layers (--decoder_rnn).')
flags.DEFINE_list('rnn_gradients', ['compiled'],
                  'Our --rnn_gradient values to time; the first is "ours", '
                  'each other one gets a <value>_s column and its ratio to '
                  'ours.')
flags.DEFINE_string('output', 'docs/bench/speed.json', 'JSON results.')

FLAGS = flags.FLAGS


def torch_model(config, keras_model=None):
  """The PyTorch twin of `config`, with our weights when given."""
  import torch  # Bench-only dependency: imported only when asked for.
  from experiments.bench import torch_reference
  torch.set_num_threads(os.cpu_count())
  torch.manual_seed(config.seed)
  model = torch_reference.TorchSequenceClassifier(
      embed_dim=config.embed_dim, lstm_units=config.lstm_units,
      head_units=config.head_units, bptt=config.bptt,
      reconstruction='reconstruction' in config.objectives,
      aux_length=config.aux_length, aux_bptt=config.aux_bptt,
      decoder_units=config.decoder_units,
      decoder_layers=config.decoder_layers,
      decoder_head_units=config.decoder_head_units,
      shared_embedding=config.decoder_embedding == 'shared')
  if keras_model is not None:
    torch_reference.load_from_keras(model, keras_model)
  optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
  return model, optimizer


def check_same_update(trainer, data, batch_size):
  """Our losses and embedding gradient vs PyTorch's on one batch, same
  weights and anchors (the embedding gradient shows both truncate the same
  way). Returns [(what, ours, PyTorch's)]; raises AssertionError when they
  differ."""
  import torch
  config = trainer.config
  model, _ = torch_model(config, trainer.model)
  tokens = data.train.tokens[:batch_size]
  labels = data.train.labels[:batch_size]
  lengths = data.train.lengths[:batch_size]
  anchors = np.random.RandomState(1).randint(
      config.aux_length, tokens.shape[1] + 1, batch_size)
  embedding = trainer.model.encoder.embedding
  with tf.GradientTape() as tape:
    ours = trainer.model.objectives(
        tokens, lengths, labels,
        {'reconstruction': (anchors[:, None], tf.ones([batch_size], tf.bool))})
    ours = {name: tf.reduce_mean(loss) for name, (loss, _) in ours.items()}
    total = tf.add_n(list(ours.values()))
  our_grad = tape.gradient(total, embedding).numpy()[0]
  theirs = model.losses(torch.from_numpy(tokens[:, :, 0].T.astype(np.int64)),
                        torch.from_numpy(labels.astype(np.int64)),
                        torch.from_numpy(anchors))
  sum(loss for loss in theirs if loss is not None).backward()
  their_grad = model.embedding.weight.grad.numpy()
  pairs = [(name, float(ours[name]), float(loss.detach())) for name, loss in
           zip(('supervised', 'reconstruction'), theirs) if loss is not None]
  pairs.append(('embedding gradient norm', float(np.linalg.norm(our_grad)),
                float(np.linalg.norm(their_grad))))
  for name, a, b in pairs:
    if abs(a - b) > 1e-4 * max(1.0, abs(a)):
      raise AssertionError(f'{name} differs: ours {a} vs PyTorch {b}')
  np.testing.assert_allclose(our_grad, their_grad, rtol=1e-3, atol=1e-6)
  return pairs


def torch_update(config, data, batch_size):
  """One PyTorch update of the twin of `config`, as a function."""
  import torch
  from experiments.bench import torch_reference
  model, optimizer = torch_model(config)
  rng = np.random.RandomState(0)
  tokens = torch.from_numpy(
      data.train.tokens[:batch_size, :, 0].T.astype(np.int64))
  labels = torch.from_numpy(data.train.labels[:batch_size].astype(np.int64))

  def update():
    anchors = torch.from_numpy(
        rng.randint(config.aux_length, FLAGS.length + 1, batch_size))
    torch_reference.train_step(model, optimizer, tokens, labels, anchors,
                               config.clip_norm)

  return update


def our_update(trainer):
  """One update of our training loop, as a function."""
  iterator = trainer.train_iterator()
  return lambda: trainer.train(iterator, 1)


def main(argv):
  del argv
  rows = []
  num_examples = max(64, FLAGS.eval_examples)
  data = common.synthetic_data(num_examples, FLAGS.length)
  for variant in FLAGS.variants:
    for batch_size in (int(b) for b in FLAGS.batch_sizes):
      trainers = {
          gradient: trainer_lib.Trainer(common.config(
              variant, batch_size).replace(
                  eval_batch_size=FLAGS.eval_batch_size,
                  decoder_rnn=FLAGS.decoder_rnn, rnn_gradient=gradient), data)
          for gradient in FLAGS.rnn_gradients}
      ours = FLAGS.rnn_gradients[0]
      trainer, config = trainers[ours], trainers[ours].config
      row = {'variant': variant, 'batch': batch_size,
             'length': FLAGS.length, 'rnn_gradient': ours}
      if FLAGS.torch and FLAGS.check:
        row['check'] = '; '.join(
            f'{name} {mine:.6g} vs {theirs:.6g}' for name, mine, theirs in
            check_same_update(trainer, data, batch_size))
      updates = {gradient: our_update(t) for gradient, t in trainers.items()}
      if FLAGS.torch:
        updates['torch'] = torch_update(config, data, batch_size)
      common.round_robin_seconds(updates, FLAGS.warmup)
      seconds = {name: statistics.median(times) for name, times in
                 common.round_robin_seconds(updates, FLAGS.repeats).items()}
      row['ours_s'] = seconds[ours]
      for gradient in FLAGS.rnn_gradients[1:]:
        row[f'{gradient}_s'] = seconds[gradient]
        row[f'{gradient}_over_ours'] = seconds[gradient] / seconds[ours]
      row['traces'] = trainer.tracing_count
      row['train_seq_per_s'] = batch_size / row['ours_s']
      if variant == 'lstm_t300':
        eval_seconds = common.median_seconds(evaluator_lib.Evaluator(
            trainer.model, data, config.eval_batch_size,
            config.seed).evaluate, 3, 1)
        row['eval_seq_per_s'] = len(data.test) / eval_seconds
        row['eval_over_train'] = row['eval_seq_per_s'] / row[
            'train_seq_per_s']
      if FLAGS.torch:
        row['torch_s'] = seconds['torch']
        row['torch_over_ours'] = row['torch_s'] / row['ours_s']
      print(row, flush=True)
      rows.append(row)
  common.report(FLAGS.output, rows, [
      'variant', 'batch', 'ours_s', 'torch_s', 'torch_over_ours',
      *(f'{gradient}_over_ours' for gradient in FLAGS.rnn_gradients[1:]),
      'traces', 'train_seq_per_s', 'eval_seq_per_s', 'eval_over_train'])


if __name__ == '__main__':
  app.run(main)
