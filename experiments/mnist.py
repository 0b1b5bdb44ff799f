r"""Comparisons on real pixel MNIST (784 steps), one run per variant, and
the same on pMNIST and CIFAR-10 (`--experiment=fidelity`).

  # Truncated vs full backpropagation, plain LSTM, 500 updates each:
  python -m experiments.mnist --experiment=truncation
  # The paper's headline: LSTM vs r-LSTM, supervised gradient truncated to
  # the last 300 steps, 3000 updates each:
  python -m experiments.mnist --experiment=auxiliary
  # pMNIST and CIFAR-10 (JPEG copy): the TFDS mnist directory and the
  # decoded CIFAR-10 arrays first (docs/transfer.md):
  python -m r_lstm.import_arrays --name=mnist \
      --npz=../shared/datasets/mnist.npz --data_dir=runs/tfds
  python -m r_lstm.decode_images \
      --input=../shared/datasets/cifar10_jpeg.npz --output=data/cifar10_jpeg.npz
  python -m experiments.mnist --experiment=fidelity --data_dir=runs/tfds \
      --variants=pmnist_lstm_t300,pmnist_r_lstm_t300 --seeds=0,1,2

Each variant trains in its own workdir below --workdir_root (re-running
resumes), scores the full test split every `eval_every` updates, and the
script prints a Markdown table and writes <workdir_root>/summary.json.
"""

import json
import os
import time

from absl import app
from absl import flags

from experiments import multiseed
from r_lstm import presets, train_lib

# Newest element first, decoder fed only the first element: the r-LSTM
# decoder the later variants build on (docs/EXPERIMENTS.md, "What the
# state holds").
RECONSTRUCTION = dict(auxiliary='reconstruction')
REVERSE_UNFED = dict(RECONSTRUCTION, decoder_order='reverse',
                     decoder_feed_rate=0.0)

# The headline setting (batch 32, K = 300, l = 200, 2 x 256 decoder, Adam
# 1e-3, clip 1, head on h): the reference implementation's in
# ../shared/calibration.
HEADLINE = dict(batch_size=32, train_steps=3000, eval_every=500, bptt=300,
                aux_length=200, aux_bptt=300, decoder_units=256,
                decoder_layers=2, optimizer='adam', learning_rate=1e-3,
                clip_norm=1.0, head_input='h')
# The paper's decoder (oldest element first, teacher-forced) reading the
# main embedding table, as the reference's does.
PAPER_DECODER = dict(RECONSTRUCTION, decoder_order='forward',
                     decoder_feed_rate=1.0, decoder_embedding='shared')

# The CIFAR-10 JPEG copy as `python -m r_lstm.decode_images` writes it
# (docs/transfer.md).
CIFAR10_JPEG = 'npz:data/cifar10_jpeg.npz'
# The 9,085 genuine CIFAR-10 images (8,068 train, 1,017 test): the check
# that a result on the JPEG copy does not come from the compression.
CIFAR10_SUBSET = 'npz:../shared/datasets/cifar10_subset.npz'
PMNIST = dict(dataset='pmnist')
FULL_BP = 100_000  # Longer than any sequence here.
# The sanity ceiling: 16 x 16 images (256 steps), where a full-BP LSTM must
# learn clearly.
CIFAR10_16PX_FULL = dict(dataset=CIFAR10_JPEG, image_size=16,
                         auxiliary='none', bptt=FULL_BP)

# MNIST at 128 x 128 (16,384 steps); scoring 10,000 test images that long
# takes minutes, so every 1,000 updates.
MNIST128 = dict(image_size=128, eval_every=1000)

# experiment -> (shared settings, {variant: its own settings}). The head
# reads h unless a variant says otherwise: the runs in docs/EXPERIMENTS.md
# were made before --head_input=state became the default.
EXPERIMENTS = {
    'truncation': (
        dict(batch_size=64, train_steps=500, eval_every=500, head_input='h',
             init='keras'),
        {'lstm_k300': dict(bptt=300), 'lstm_k784': dict(bptt=784)}),
    'auxiliary': (
        dict(HEADLINE, init='keras'),
        {'lstm_k300': dict(auxiliary='none'),
         # Teacher-forced decoder: it learns to ignore the anchor state.
         'r_lstm_k300': dict(RECONSTRUCTION),
         # Decoder fed only the first element: the anchor state must carry
         # the segment.
         'r_lstm_k300_unfed': dict(RECONSTRUCTION, decoder_feed_rate=0.0),
         'r_lstm_k300_half': dict(RECONSTRUCTION, decoder_feed_rate=0.5),
         'r_lstm_k300_quarter': dict(RECONSTRUCTION, decoder_feed_rate=0.25),
         # The paper's l = 600: anchors in [600, 784] reconstruct nearly the
         # whole digit, from a state inside the supervised window.
         'r_lstm_k300_quarter_l600': dict(RECONSTRUCTION, aux_length=600,
                                          decoder_feed_rate=0.25),
         # The decoder reads the main LSTM's embedding table.
         'r_lstm_k300_shared_embedding': dict(RECONSTRUCTION,
                                              decoder_embedding='shared'),
         # Newest element first: recent elements give short gradient
         # paths through the anchor state (docs/EXPERIMENTS.md, "What the
         # state holds").
         'r_lstm_k300_reverse_unfed': REVERSE_UNFED,
         'r_lstm_k300_reverse_quarter': dict(RECONSTRUCTION,
                                             decoder_order='reverse',
                                             decoder_feed_rate=0.25),
         # The paper's two phases within the same 3,000 updates: 500
         # auxiliary-only updates first, so the classifier starts from a
         # state that already holds the recent pixels.
         'r_lstm_k300_reverse_unfed_pretrain500': dict(REVERSE_UNFED,
                                                       pretrain_steps=500),
         # The head reads h and c: MNIST's blank last rows close the output
         # gate, so h at the last step hides what c holds (docs/EXPERIMENTS.md).
         'lstm_k300_state': dict(auxiliary='none', head_input='state'),
         'r_lstm_k300_pretrain500_state': dict(
             RECONSTRUCTION, pretrain_steps=500, head_input='state'),
         'r_lstm_k300_reverse_unfed_state': dict(REVERSE_UNFED,
                                                 head_input='state'),
         'r_lstm_k300_reverse_unfed_pretrain500_state': dict(
             REVERSE_UNFED, pretrain_steps=500, head_input='state')}),
    # Which initialization lets the paper's r-LSTM leave chance
    # (docs/FIDELITY.md, "Initialization"). Ablations swap one part of the
    # torch scheme back to Keras' (--train_steps=1000 for the short runs).
    'initialization': (
        HEADLINE,
        {'lstm_k300_torch': dict(auxiliary='none', init='torch'),
         'lstm_k300_keras': dict(auxiliary='none', init='keras'),
         'lstm_k300_tf1': dict(auxiliary='none', init='tf1'),
         'r_lstm_k300_torch': dict(PAPER_DECODER, init='torch'),
         'r_lstm_k300_torch_pretrain500': dict(PAPER_DECODER, init='torch',
                                               pretrain_steps=500),
         'r_lstm_k300_keras': dict(PAPER_DECODER, init='keras'),
         'r_lstm_k300_tf1': dict(PAPER_DECODER, init='tf1'),
         'r_lstm_k300_torch_own_embedding': dict(
             PAPER_DECODER, init='torch', decoder_embedding='own'),
         'r_lstm_k300_torch_keras_embedding': dict(
             PAPER_DECODER, init='torch', init_embedding='keras'),
         'r_lstm_k300_torch_keras_lstm_weights': dict(
             PAPER_DECODER, init='torch', init_lstm_weights='keras'),
         'r_lstm_k300_torch_keras_lstm_bias': dict(
             PAPER_DECODER, init='torch', init_lstm_bias='keras'),
         'r_lstm_k300_torch_keras_dense': dict(
             PAPER_DECODER, init='torch', init_dense='keras'),
         'r_lstm_k300_keras_torch_embedding': dict(
             PAPER_DECODER, init='keras', init_embedding='torch'),
         # The reference's remaining differences: one set of anchors per
         # batch and PyTorch's Adam epsilon.
         'r_lstm_k300_torch_batch_anchors_eps1e-8': dict(
             PAPER_DECODER, init='torch', anchor_sharing='batch',
             adam_epsilon=1e-8)}),
    # Table 2 beyond MNIST (issue 29): the paper's decoder, the default
    # initialization (torch), the headline budget.
    'fidelity': (
        HEADLINE,
        {'pmnist_lstm_t300': dict(PMNIST, auxiliary='none'),
         'pmnist_r_lstm_t300': dict(PMNIST, **PAPER_DECODER),
         'pmnist_lstm_full': dict(PMNIST, auxiliary='none', bptt=FULL_BP),
         'cifar10_lstm_t300': dict(dataset=CIFAR10_JPEG, auxiliary='none'),
         'cifar10_r_lstm_t300': dict(dataset=CIFAR10_JPEG, **PAPER_DECODER),
         'cifar10_lstm_full': dict(dataset=CIFAR10_JPEG, auxiliary='none',
                                   bptt=FULL_BP),
         'cifar10_subset_lstm_t300': dict(dataset=CIFAR10_SUBSET,
                                          auxiliary='none'),
         'cifar10_subset_r_lstm_t300': dict(dataset=CIFAR10_SUBSET,
                                            **PAPER_DECODER),
         'cifar10_subset_lstm_full': dict(dataset=CIFAR10_SUBSET,
                                          auxiliary='none', bptt=FULL_BP),
         # Item 3's knobs, each one change to the r-LSTM T300 run: the
         # paper's l = 600, auxiliary-only pretraining (500 of the 3,000
         # updates), several anchors per example.
         'pmnist_r_lstm_t300_l600': dict(PMNIST, aux_length=600,
                                         **PAPER_DECODER),
         'pmnist_r_lstm_t300_pretrain500': dict(PMNIST, pretrain_steps=500,
                                                **PAPER_DECODER),
         'pmnist_r_lstm_t300_anchors3': dict(PMNIST, num_anchors=3,
                                             **PAPER_DECODER),
         'cifar10_16px_lstm_full': CIFAR10_16PX_FULL,
         # The input-design / head / initialization / optimizer ablation:
         # each changes one thing of the sanity ceiling.
         'cifar10_16px_lstm_full_state_head': dict(CIFAR10_16PX_FULL,
                                                   head_input='state'),
         'cifar10_16px_lstm_full_keras_init': dict(CIFAR10_16PX_FULL,
                                                   init='keras'),
         'cifar10_16px_lstm_full_grey': dict(CIFAR10_16PX_FULL,
                                             grayscale=True),
         'cifar10_16px_lstm_full_lr3e-3': dict(CIFAR10_16PX_FULL,
                                               learning_rate=3e-3),
         'cifar10_16px_lstm_full_no_clip': dict(CIFAR10_16PX_FULL,
                                                clip_norm=0.0),
         'cifar10_16px_lstm_full_sum': dict(CIFAR10_16PX_FULL,
                                            channel_embedding='sum'),
         'cifar10_16px_lstm_full_shared': dict(CIFAR10_16PX_FULL,
                                               channel_embedding='shared'),
         # The long-sequence claim on real data: MNIST area-resized to
         # 128 x 128 (16,384 steps); the supervised window is the last 300.
         'mnist128_lstm_t300': dict(MNIST128, auxiliary='none'),
         'mnist128_r_lstm_t300': dict(MNIST128, **PAPER_DECODER)}),
}

# Issue 31: auxiliary losses on a truncated memory Transformer (docs/
# memory_transformer.md). K = 112 steps (the last 4 of 28 rows, nearly
# blank on MNIST) for the supervised and the auxiliary windows alike.
MEMORY_TRANSFORMER = dict(HEADLINE, backbone='memory_transformer', bptt=112,
                          aux_bptt=112, segment_length=28, memory_tokens=4)


def _memory_transformer_arms(dataset):
  """The four arms of the issue, the p-loss and unrestricted attention,
  on one dataset."""
  return {
      # (A) truncated to K, no auxiliary loss.
      'mt_k112': dict(dataset, auxiliary='none'),
      # (B) (A) plus the r-loss (the paper's decoder, from the memory).
      'mt_k112_r': dict(dataset, **PAPER_DECODER),
      # (C) full backpropagation through the memory: the ceiling.
      'mt_full': dict(dataset, auxiliary='none', bptt=FULL_BP),
      # (D) no memory: each segment alone (the floor).
      'mt_no_memory': dict(dataset, auxiliary='none', bptt=FULL_BP,
                           memory_tokens=0),
      # (E) (A) plus the p-loss.
      'mt_k112_p': dict(dataset, auxiliary='prediction'),
      # (A) and (B) with the previous segment cached as well.
      'mt_k112_cache': dict(dataset, auxiliary='none',
                            attention_span='previous'),
      'mt_k112_r_cache': dict(dataset, attention_span='previous',
                              **PAPER_DECODER),
      # (F) unrestricted attention: the same blocks over the whole
      # sequence, which no window can truncate (the baseline backbone).
      'transformer_full': dict(dataset, backbone='transformer',
                               auxiliary='none', bptt=FULL_BP)}


EXPERIMENTS['memory_transformer'] = (MEMORY_TRANSFORMER, {
    f'{prefix}{name}': settings
    for prefix, dataset in (('mnist_', {}), ('pmnist_', PMNIST))
    for name, settings in _memory_transformer_arms(dataset).items()})

flags.DEFINE_enum('experiment', 'truncation', list(EXPERIMENTS),
                  'Which comparison to run.')
flags.DEFINE_list('variants', None, 'Run only these variants.')
flags.DEFINE_string('npz', '../shared/datasets/mnist.npz',
                    'Keras-layout MNIST arrays.')
flags.DEFINE_string('data_dir', None, 'TFDS data directory (pmnist).')
flags.DEFINE_string('workdir_root', None,
                    'Default: runs/mnist_<experiment>.')
flags.DEFINE_integer('train_steps', None, 'Override the updates per run.')
flags.DEFINE_integer('seed', 0, 'Random seed (one run per variant in '
                     '<workdir_root>/<variant>).')
flags.DEFINE_list('seeds', None, 'Run each variant with each of these seeds, '
                  'in <workdir_root>/<variant>/seed_<N>, and write a table of '
                  'mean +- sd over seeds and a curve plot with a band per '
                  'variant (experiments.multiseed).')

FLAGS = flags.FLAGS


def summarize(name, workdir, wall_seconds):
  """One run's entry of summary.json, read with experiments.multiseed's
  readers (which leave out a torn last line, as a killed run may leave)."""
  return {'variant': name,
          'test_accuracy_by_step': multiseed.eval_curve(workdir, ('test',)),
          'seconds_per_update': multiseed.seconds_per_update(workdir),
          'wall_seconds': wall_seconds}


def main(argv):
  del argv
  shared, variants = EXPERIMENTS[FLAGS.experiment]
  root = FLAGS.workdir_root or f'runs/mnist_{FLAGS.experiment}'
  unknown = set(FLAGS.variants or ()) - set(variants)
  if unknown:
    raise app.UsageError(f'unknown variants {sorted(unknown)}; '
                         f'{FLAGS.experiment} has {", ".join(variants)}')
  seeds = [int(seed) for seed in FLAGS.seeds] if FLAGS.seeds else [FLAGS.seed]
  rows = []
  for name, settings in variants.items():
    if FLAGS.variants and name not in FLAGS.variants:
      continue
    workdirs = []
    for seed in seeds:
      config = presets.preset('default').replace(**{
          'dataset': f'npz:{FLAGS.npz}', 'data_dir': FLAGS.data_dir,
          'steps_per_loop': 25, 'seed': seed, **shared, **settings})
      if FLAGS.train_steps:
        config = config.replace(train_steps=FLAGS.train_steps)
      config = config.replace(checkpoint_every=config.eval_every)
      workdir = os.path.join(root, name)
      if FLAGS.seeds:
        workdir = os.path.join(workdir, f'seed_{seed}')
      start = time.monotonic()
      train_lib.train_and_evaluate(config, workdir)
      rows.append(summarize(name if not FLAGS.seeds
                            else f'{name} seed {seed}', workdir,
                            time.monotonic() - start))
      workdirs.append(workdir)
    if FLAGS.seeds:
      print(multiseed.write_summary(workdirs, os.path.join(root, name), name))
  with open(os.path.join(root, 'summary.json'), 'w') as f:
    json.dump(rows, f, indent=2)
  steps = sorted({s for row in rows for s in row['test_accuracy_by_step']})
  print('| variant | ' + ' | '.join(f'test acc @{s}' for s in steps)
        + ' | s/update | wall time (s) |')
  print('|---' * (len(steps) + 3) + '|')
  for row in rows:
    accuracies = [row['test_accuracy_by_step'].get(s) for s in steps]
    print(f"| {row['variant']} | "
          + ' | '.join('' if a is None else f'{a:.4f}' for a in accuracies)
          + f" | {row['seconds_per_update']:.3f} | {row['wall_seconds']:.0f} |")


if __name__ == '__main__':
  app.run(main)
