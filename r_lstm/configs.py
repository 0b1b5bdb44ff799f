"""Run configurations: the `Config` every library function takes.

A config is only data: it imports no TensorFlow, so it can be read,
checked and compared anywhere (`tests/layering_test.py` imports it with
TensorFlow made unimportable). Its field metadata is the one source of each
flag's help, the docs' tables, the allowed values and ranges that
`config_rules.validate` checks. Named configs live in `r_lstm.presets`;
older configs are read through `r_lstm.config_migration`.
"""

import dataclasses
import json
from typing import Optional, Tuple

from r_lstm import config_migration, config_rules, registry
from r_lstm.errors import UsageError

OPTIMIZERS = ('adam', 'rmsprop')
# --lr_schedule (`r_lstm.learning_rates`).
LR_SCHEDULES = ('constant', 'cosine', 'linear')
# --early_stopping_metric: evaluation metrics and whether higher is better.
STOPPING_METRICS = {'accuracy': True, 'loss': False}
DECODER_ORDERS = ('forward', 'reverse')
DECODER_UNFED_INPUTS = ('none', 'sampled')
HEAD_INPUTS = ('h', 'state')
# How the channels of a step (RGB) become one input (`encoders.TokenLSTM`).
CHANNEL_EMBEDDINGS = ('concat', 'sum', 'shared')
ANCHOR_SHARING = ('example', 'batch')
DECODER_INITS = ('auto', 'project')
DECODER_EMBEDDINGS = ('shared', 'own')
# --precision -> the Keras dtype policy of every layer.
PRECISIONS = ('float32', 'mixed_bfloat16', 'mixed_float16')
# --decoder_rnn -> how a decoder runs its layers (`objectives.base`); auto
# is resolved once when a run starts (`distribute.resolve_decoder_rnn`).
DECODER_RNNS = ('auto', 'unroll', 'keras')
# --rnn_gradient -> how a recurrent loop's gradient is computed (`unroll`).
RNN_GRADIENTS = ('compiled', 'sequence', 'autodiff')
# --strategy -> how the replicas are laid out (`r_lstm.distribute`).
STRATEGIES = ('auto', 'mirrored', 'multi_worker', 'tpu')
# --attention_span (`r_lstm.memory_transformer`).
ATTENTION_SPANS = ('segment', 'previous')
# --init and its per-part overrides (`r_lstm.initializers`).
INIT_SCHEMES = ('keras', 'torch', 'tf1')
INIT_PARTS = ('embedding', 'lstm_weights', 'lstm_bias', 'dense')
# numpy's legacy seeding takes 32-bit seeds; TensorFlow's op seeds 63.
MAX_SEED = 2 ** 31 - 1


# The sections of a Config, in the order help and docs list them. Each
# section has one consumer: data -> input_pipeline, model -> the backbone
# (`registry.BACKBONES`), anchors -> steps.Recipe, objectives -> the
# auxiliary decoders (objectives.base.DecoderOptions), initialization ->
# initializers, transformer -> both Transformers, optimizer ->
# trainer.make_optimizer, schedule and run -> the training loop.
SECTIONS = ('data', 'model', 'anchors', 'objectives', 'initialization',
            'transformer', 'optimizer', 'schedule', 'run')


def _field(default, section: str,
           help: str,  # pylint: disable=redefined-builtin
           choices=None, minimum=None, maximum=None, above=None, unset=None):
  """A Config field and its metadata: the one source of its flag's help,
  the README's and docs/FLAGS.md's tables, its allowed values (`choices`)
  and range (`minimum` and `maximum` inclusive, `above` exclusive; for a
  tuple, of each element); `unset` says what a None value does."""
  assert section in SECTIONS, section
  return dataclasses.field(default=default, metadata={
      'section': section, 'help': help,
      'choices': tuple(choices) if choices else None,
      'minimum': minimum, 'maximum': maximum, 'above': above,
      'unset': unset})


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything that defines a run, field by field in sections.

  Each field's meaning, choices and section are its metadata (`_field`):
  `python -m r_lstm.train --helpfull` prints them by section, and
  docs/FLAGS.md is generated from them (`flag_docs.flags_markdown`).
  """
  dataset: str = _field('mnist5k', 'data', registry.DATASET_HELP + '.')
  data_dir: Optional[str] = _field(
      None, 'data', 'TFDS data directory (unset: TFDS\'s default), or the CSV '
      'directory of dbpedia.')
  image_size: Optional[int] = _field(
      None, 'data', 'Area-resize square images to S x S before reading them '
      'pixel by pixel (S * S steps; unset: the native size); required for '
      'stanford_dogs.', minimum=1)
  grayscale: bool = _field(
      False, 'data', 'Read colour images as one grey value per pixel.')
  max_length: Optional[int] = _field(
      None, 'data', 'Text: keep the first N bytes of each example (unset: '
      'all).', minimum=1)
  permutation_seed: int = _field(
      0, 'data', 'Seed of the fixed pmnist pixel permutation (recorded in '
      'the workdir).', minimum=0, maximum=MAX_SEED)
  backbone: str = _field(
      'lstm', 'model', 'The network that reads the sequence: '
      + '; '.join(f'{b.name} ({b.help})'
                  for b in registry.BACKBONES.values()) + '.',
      choices=registry.BACKBONES)
  auxiliary: str = _field(
      'none', 'model', 'Auxiliary objectives trained beside the supervised '
      'loss at sampled anchors: none (the plain LSTM), reconstruction '
      '(r-LSTM: a decoder started from the state at the anchor rebuilds the '
      'elements before it), prediction (p-LSTM: an RNN on the main one '
      'predicts the elements after it) or both (not in the paper). '
      '--model=r_lstm and the like still work and say what they map to.',
      choices=registry.AUXILIARY)
  bptt: int = _field(
      300, 'model', 'K: the supervised gradient reaches the last K steps '
      'of each sequence; K >= its length is full backpropagation; 0 trains '
      'only the classifier head (with --auxiliary=reconstruction, the '
      'paper\'s "no backpropagation" extreme).', minimum=0)
  rnn_gradient: str = _field(
      'compiled', 'model', 'How recurrent windows are differentiated: '
      'compiled (a hand-written backward pass, r_lstm/sequence.py, LSTM step '
      'loops as a C++ op built on first use, float32 on a CPU: the fastest), '
      'sequence (the same as TensorFlow loops) or autodiff (TensorFlow '
      'differentiates the step loop). Equal to 1e-5; runs saved before a '
      'choice existed resume with the one they ran.', choices=RNN_GRADIENTS)
  embed_dim: int = _field(
      128, 'model', 'Embedding size per channel (paper: 128).', minimum=1)
  channel_embedding: str = _field(
      'concat', 'model', 'How the channels of a step (RGB) are embedded, '
      'which the paper leaves open: concat (a table per channel, '
      'concatenated), sum (a table per channel, summed) or shared (one table '
      'for every channel, concatenated). Every built-in backbone.',
      choices=CHANNEL_EMBEDDINGS)
  lstm_units: int = _field(128, 'model', 'Main recurrent layer size '
                           '(paper: 128).', minimum=1)
  head_units: Tuple[int, ...] = _field(
      (256, 256), 'model', 'Classifier head layer sizes, e.g. 256,256 '
      '(paper\'s).', minimum=1)
  head_input: str = _field(
      'state', 'model', 'What the classifier head reads after the last '
      'step: h (the output) or state (the whole state: an LSTM\'s h and cell '
      'c concatenated; a closed output gate can hide in h what c holds, as '
      'MNIST\'s blank last rows do). Runs saved before this field existed '
      'resume with h.', choices=HEAD_INPUTS)
  num_anchors: int = _field(
      1, 'anchors', 'Anchors per example, drawn afresh at every update.',
      minimum=1)
  anchor_sharing: str = _field(
      'example', 'anchors', 'example: each example draws its own anchors; '
      'batch: a replica\'s batch shares them (the same position in '
      'equal-length examples, the same fraction of the valid range '
      'otherwise), as the PyTorch reference in ../shared/calibration does. '
      'The paper does not say.', choices=ANCHOR_SHARING)
  aux_weight: float = _field(
      1.0, 'anchors', 'Weight of the auxiliary losses: joint loss = '
      'supervised + weight x auxiliary.', minimum=0)
  pretrain_steps: int = _field(
      0, 'anchors', 'The first N updates train the auxiliary losses alone.',
      minimum=0)
  aux_length: int = _field(
      600, 'objectives', 'l: tokens each anchor reconstructs (r, before it) '
      'or predicts (p, after it).', minimum=2)
  aux_bptt: int = _field(
      300, 'objectives', 'Steps before the anchor the reconstruction '
      'gradient reaches into the main network (0: none).', minimum=0)
  decoder_units: int = _field(
      256, 'objectives', 'Decoder layer size (paper: 256).', minimum=1)
  decoder_layers: int = _field(
      2, 'objectives', 'Decoder recurrent layers (paper: 2).', minimum=1)
  decoder_head_units: Tuple[int, ...] = _field(
      (256, 256), 'objectives', 'Decoder head layer sizes, e.g. 256,256.',
      minimum=1)
  decoder_init: str = _field(
      'auto', 'objectives', 'How the main state starts the r-LSTM decoder\'s '
      'bottom layer: auto copies it when the sizes match and maps it '
      'through learned linear maps when they differ; project always maps.',
      choices=DECODER_INITS)
  decoder_feed_rate: float = _field(
      1.0, 'objectives', 'Probability that the r-LSTM decoder reads each true '
      'element after the first, drawn per element and update (1: teacher '
      'forcing; 0: it reconstructs from the anchor state and the first '
      'element alone, or from its own samples).', minimum=0, maximum=1)
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
      choices=INIT_SCHEMES)
  init_embedding: Optional[str] = _field(
      None, 'initialization', 'The embeddings\' scheme, when not --init\'s '
      '(ablations).', choices=INIT_SCHEMES,
      unset='follow init')
  init_lstm_weights: Optional[str] = _field(
      None, 'initialization', 'The recurrent cells\' kernels\' scheme, when '
      'not --init\'s.', choices=INIT_SCHEMES,
      unset='follow init')
  init_lstm_bias: Optional[str] = _field(
      None, 'initialization', 'The recurrent cells\' biases\' scheme, when '
      'not --init\'s.', choices=INIT_SCHEMES,
      unset='follow init')
  init_dense: Optional[str] = _field(
      None, 'initialization', 'The dense layers\' (heads, decoder start '
      'maps) scheme, when not --init\'s.', choices=INIT_SCHEMES,
      unset='follow init')
  transformer_units: int = _field(
      64, 'transformer', 'The width of both Transformers (they share '
      '--embed_dim and --head_units; --bptt does not apply to the '
      'baseline).', minimum=1)
  transformer_layers: int = _field(
      2, 'transformer', 'Both Transformers\' blocks.', minimum=1)
  transformer_heads: int = _field(
      4, 'transformer', 'Both Transformers\' attention heads.', minimum=1)
  transformer_ffn_units: int = _field(
      128, 'transformer', 'Both Transformers\' feed-forward width.',
      minimum=1)
  segment_length: int = _field(
      28, 'transformer', 'memory_transformer: steps per segment (28: an '
      'MNIST row); windows and anchors round out to segments.', minimum=1)
  memory_tokens: int = _field(
      4, 'transformer', 'memory_transformer: vectors carried between '
      'segments (0: none, the local floor; objectives need 1 or more).',
      minimum=0)
  attention_span: str = _field(
      'segment', 'transformer', 'memory_transformer: what a segment attends '
      'to besides itself and the memory: segment (nothing) or previous (the '
      'previous segment\'s hidden states, a Transformer-XL cache).',
      choices=ATTENTION_SPANS)
  optimizer: str = _field('adam', 'optimizer', 'The optimizer.',
                          choices=OPTIMIZERS)
  learning_rate: float = _field(1e-3, 'optimizer', 'Learning rate.', above=0)
  lr_schedule: str = _field(
      'constant', 'optimizer', 'The learning rate after the warm-up: '
      'constant, or decaying to 0 at train_steps along a half cosine or a '
      'line.', choices=LR_SCHEDULES)
  warmup_steps: int = _field(
      0, 'optimizer', 'The first N updates raise the learning rate linearly '
      'from 0 to --learning_rate.', minimum=0)
  clip_norm: float = _field(
      1.0, 'optimizer', 'Bound on the global gradient norm (0: no clipping).',
      minimum=0)
  adam_epsilon: float = _field(
      1e-7, 'optimizer', 'Adam\'s epsilon: 1e-7 is Keras\' default, 1e-8 '
      'PyTorch\'s and TF 1.x\'s.', above=0)
  batch_size: int = _field(
      64, 'schedule', 'Global batch, split evenly across replicas.',
      minimum=1)
  eval_batch_size: int = _field(
      500, 'schedule', 'Evaluation batch; every example is scored, the last '
      'partial batch too.', minimum=1)
  train_steps: int = _field(
      10000, 'schedule', 'Total number of updates.', minimum=1)
  steps_per_loop: int = _field(
      10, 'schedule', 'Updates per tf.function call and per progress line.',
      minimum=1)
  eval_every: int = _field(
      1000, 'schedule', 'Evaluate every N updates, and at the end (0: only '
      'at the end).', minimum=0)
  checkpoint_every: int = _field(
      1000, 'schedule', 'Checkpoint every N updates, and at the end.',
      minimum=1)
  max_checkpoints: int = _field(
      3, 'schedule', 'Checkpoints kept in the workdir.', minimum=1)
  early_stopping_patience: int = _field(
      0, 'schedule', 'Stop when N evaluations in a row have not improved '
      'on the best --early_stopping_metric so far (0: never stop early).',
      minimum=0)
  early_stopping_metric: str = _field(
      'accuracy', 'schedule', 'The evaluation metric early stopping '
      'watches: accuracy (higher is better) or loss (lower).',
      choices=STOPPING_METRICS)
  seed: int = _field(
      0, 'run', 'Seeds the weights, the data order, the anchors and '
      'TensorFlow ops.', minimum=0, maximum=MAX_SEED)
  deterministic: bool = _field(
      False, 'run', 'TensorFlow op determinism: a killed and resumed run '
      'ends bit for bit where an uninterrupted one does.')
  precision: str = _field(
      'float32', 'run', 'Keras dtype policy: mixed_* compute in bfloat16 '
      'or float16 with float32 weights, logits and losses; mixed_float16 '
      'scales the loss (for GPUs).', choices=PRECISIONS)
  strategy: str = _field(
      'auto', 'run', 'Where the replicas run (tf.distribute): auto (several '
      'local GPUs mirrored, else one device), mirrored, multi_worker (the '
      'cluster in TF_CONFIG; worker 0 or the chief writes the workdir) or '
      'tpu.', choices=STRATEGIES)

  def replace(self, **changes) -> 'Config':
    """A copy with `changes`; earlier versions' fields (`model`, `cell`)
    mean what `config_migration.translate_legacy` says."""
    return dataclasses.replace(self, **config_migration.translate_legacy(
        changes, self.backbone, self.auxiliary))

  @property
  def objectives(self) -> Tuple[str, ...]:
    """The auxiliary objectives this run trains (`registry.AUXILIARY`)."""
    return registry.AUXILIARY[self.auxiliary]

  @property
  def backbone_entry(self) -> registry.Backbone:
    return registry.BACKBONES[self.backbone]

  @property
  def cell(self) -> str:
    """The recurrent cell of the backbone and of every decoder."""
    return self.backbone_entry.cell

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text: str, source: str = 'config') -> 'Config':
    """Parses `to_json` output, or a config an earlier version saved
    (`config_migration.upgrade`); UsageError naming `source` when it is not
    a run config (plain JSON: nothing is executed or unpickled)."""
    return config_rules.parse_json(cls, text, source)


# Fields that follow `init` when None, else name a scheme of their own.
INIT_PART_FIELDS = {f'init_{part}': part for part in INIT_PARTS}


def section_fields(section: str) -> Tuple[dataclasses.Field, ...]:
  """The fields of one of `SECTIONS`, in order."""
  return tuple(field for field in dataclasses.fields(Config)
               if field.metadata['section'] == section)
