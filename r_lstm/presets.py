"""Named configs: `--preset=NAME` is a `Config` that flags then override.

`default` is the paper's MNIST model with the supervised gradient
truncated to the last 300 steps; `demo` finishes on a laptop; every cell of
the paper's Table 2 (`paper.CELLS`) and its analyses (CIFAR10's shrinking
K and anchors, StanfordDogs, DBpedia) has a preset and a `_quick` twin that
fits a 2-core CPU. No TensorFlow.
"""

import difflib
from typing import Dict

from r_lstm import paper, registry
from r_lstm.configs import Config
from r_lstm.errors import UsageError

PRESETS: Dict[str, Config] = {
    # The paper's MNIST setting with the supervised gradient truncated to
    # the last 300 steps.
    'default': Config(),
    # Finishes in under 10 minutes on 2 CPU cores (see README): the offline
    # 5k digits at 14x14 (196 steps) with full backpropagation. Keras'
    # initialization: with PyTorch's this small training set is overfitted
    # (README, Results: validation 0.573 against 0.866 after 4,000 updates).
    'demo': Config(dataset='mnist5k', image_size=14, bptt=196,
                   batch_size=32, train_steps=4000, steps_per_loop=50,
                   eval_every=1000, checkpoint_every=1000, init='keras'),
}

# The paper's auxiliary setting: 1 anchor, l = 600, auxiliary gradient 300
# steps; the number of updates and of pretraining updates are ours (the
# paper gives epochs only for StanfordDogs: 20 pretraining + 100).
PAPER_SCHEDULE = dict(batch_size=64, train_steps=100000, eval_every=5000,
                      checkpoint_every=5000, steps_per_loop=50)
PAPER_AUXILIARY = dict(aux_length=600, aux_bptt=300, num_anchors=1,
                       pretrain_steps=10000)
# `_quick`: what fits this 2-core CPU (see docs/EXPERIMENTS.md): 1,500
# updates of batch 32, l = 200, no pretraining (the headline setting).
QUICK_SCHEDULE = dict(batch_size=32, train_steps=1500, eval_every=500,
                      checkpoint_every=500, steps_per_loop=25)
QUICK_AUXILIARY = dict(aux_length=200, pretrain_steps=0)


def _add(presets, name: str, full: Config, quick_aux_length: bool):
  """Adds a preset and its `_quick` twin (the quick schedule; l = 200 too
  unless the preset is about l)."""
  presets[name] = full
  quick = dict(QUICK_SCHEDULE)
  if full.objectives:
    quick.update(QUICK_AUXILIARY if quick_aux_length else
                 dict(pretrain_steps=0))
  presets[f'{name}_quick'] = full.replace(**quick)


def _paper_presets():
  """A preset for each cell of the paper's Table 2 (`paper.CELLS`)."""
  presets = {}
  for cell in paper.CELLS:
    # Attention holds batch x heads x T^2 scores: evaluating 500 MNIST
    # sequences at once peaked at 9.1 GB, so the Transformer scores 100.
    eval_batch = 500 if registry.BACKBONES[cell.backbone].recurrent else 100
    _add(presets, cell.preset,
         _row(cell.model, dataset=cell.dataset, bptt=cell.bptt,
              eval_batch_size=eval_batch), quick_aux_length=True)
  return presets


# The paper's analyses, on CIFAR10 with the Table 2 schedule, and its
# StanfordDogs and DBpedia experiments. K = 300 and 1 x 600 are the
# Table 2 cells cifar10_lstm_t300 and cifar10_r_lstm_t300.
SHRINKING_BPTT = (200, 100, 50, 0)  # K = 0: only the auxiliary loss (and
# for the LSTM nothing) trains the main LSTM; the head still learns.
ANCHORS_BY_LENGTH = ((2, 300), (3, 200), (6, 100))  # anchors x l = 600.
# StanfordDogs: images area-resized to S x S, one RGB step per pixel
# (1,024 .. 16,384 steps); the paper trains 20 epochs of pretraining then
# 100 epochs: 188 updates of 64 per epoch of its 12,000 training images.
DOGS_IMAGE_SIZES = (32, 64, 128)
DOGS_EPOCH = 188
DOGS_SCHEDULE = dict(batch_size=64, train_steps=120 * DOGS_EPOCH,
                     eval_every=10 * DOGS_EPOCH,
                     checkpoint_every=10 * DOGS_EPOCH, steps_per_loop=47)
# The paper's models (`paper.MODELS`) of its StanfordDogs and DBpedia rows.
ROWS = ('lstm', 'r_lstm', 'p_lstm')


def _analysis_presets():
  presets = {}
  cifar_t300 = {row: _row(row, dataset='cifar10', bptt=300)
                for row in ('lstm', 'r_lstm')}
  for k in SHRINKING_BPTT:
    for row, t300 in cifar_t300.items():
      if k == 0 and not t300.objectives:
        continue  # Nothing would train the LSTM: not an experiment.
      _add(presets, f'cifar10_{row}_k{k}', t300.replace(bptt=k),
           quick_aux_length=True)
  for anchors, length in ANCHORS_BY_LENGTH:
    _add(presets, f'cifar10_r_lstm_a{anchors}_l{length}',
         cifar_t300['r_lstm'].replace(num_anchors=anchors,
                                      aux_length=length),
         quick_aux_length=False)
  for size in DOGS_IMAGE_SIZES:
    for row in ROWS:
      dogs = _row(row, dataset='stanford_dogs', image_size=size,
                  bptt=300, **DOGS_SCHEDULE)
      if dogs.objectives:
        dogs = dogs.replace(pretrain_steps=20 * DOGS_EPOCH)
      _add(presets, f'stanford_dogs_{size}_{row}_t300', dogs,
           quick_aux_length=True)
  # 'full': longer than any kept text (--max_length cuts at 4,096 bytes).
  dbpedia = [('lstm', 'full', 4096)] + [(row, 't300', 300) for row in ROWS]
  for row, truncation, bptt in dbpedia:
    _add(presets, f'dbpedia_{row}_{truncation}',
         _row(row, dataset='dbpedia', max_length=4096, bptt=bptt),
         quick_aux_length=True)
  return presets


def _row(model: str, **fields) -> Config:
  """The paper's `model` (`paper.MODELS`) on the paper's schedule (its
  auxiliary setting too when it has objectives); `fields` override."""
  backbone, auxiliary = paper.MODELS[model]
  settings = dict(PAPER_SCHEDULE, backbone=backbone, auxiliary=auxiliary)
  if registry.AUXILIARY[auxiliary]:
    settings.update(PAPER_AUXILIARY)
  return Config(**{**settings, **fields})


PRESETS.update(_paper_presets())
PRESETS.update(_analysis_presets())


def preset(name: str) -> Config:
  """The preset `name`; UsageError with the nearest names when unknown."""
  if name not in PRESETS:
    near = difflib.get_close_matches(name, PRESETS, n=3, cutoff=0.6)
    hint = (f'did you mean {" or ".join(near)}?' if near else
            'the presets are default, demo, one per cell of the paper\'s '
            'Table 2 such as mnist_r_lstm_t300 and the analyses\' ones, '
            'each with a _quick twin (docs/USAGE.md, Presets)')
    raise UsageError(f'unknown preset {name!r}; {hint}')
  return PRESETS[name]
