"""Configs saved, presets named and flags written by earlier versions, read
as what they mean now. No TensorFlow.

Two kinds of change are followed:
- a field added after runs were saved without it: such a run resumes with
  the value that reproduces it (`BEFORE_FIELD_EXISTED`), even where today's
  default differs;
- `model` and `cell`, one name per combination of network and objectives
  (`rp_lstm`), became `backbone` and `auxiliary` (`registry`): the old
  names map on (`translate_legacy`), in saved configs, `Config.replace` and
  the `--model` / `--cell` flags.
"""

from typing import Dict, Mapping, Optional, Tuple

from r_lstm import registry
from r_lstm.errors import UsageError

# Fields added after runs were saved without them, with the value that
# reproduces those runs (even if the default changes).
BEFORE_FIELD_EXISTED = {'decoder_embedding': 'own',
                        'decoder_order': 'forward',
                        'decoder_unfed_input': 'none',
                        'head_input': 'h',
                        'init': 'keras',
                        'anchor_sharing': 'example',
                        'adam_epsilon': 1e-7,
                        'precision': 'float32', 'strategy': 'auto',
                        'decoder_rnn': 'auto', 'rnn_gradient': 'autodiff'}

# --model -> (its backbone, or None for the recurrent one --cell names;
# its --auxiliary).
LEGACY_MODELS: Dict[str, Tuple[Optional[str], str]] = {
    'lstm': (None, 'none'),
    'r_lstm': (None, 'reconstruction'),
    'p_lstm': (None, 'prediction'),
    'rp_lstm': (None, 'both'),
    'transformer': ('transformer', 'none'),
}
# --cell -> the recurrent backbone of that cell (the two it took).
LEGACY_CELLS = {'lstm': 'lstm', 'gru': 'gru'}
LEGACY_FIELDS = ('model', 'cell')
# What a config without `model` or `cell` had: the LSTM.
LEGACY_DEFAULTS = {'backbone': 'lstm', 'auxiliary': 'none'}


def _choice(name: str, value, choices: Mapping) -> None:
  if not isinstance(value, str) or value not in choices:
    raise UsageError(f'unknown value {value!r} for {name}; choose one of '
                     f'{", ".join(choices)} (or backbone and auxiliary)',
                     fields=(name, 'backbone', 'auxiliary'))


def legacy_meaning(model: Optional[str] = None, cell: Optional[str] = None
                   ) -> Dict[str, str]:
  """The fields `--model` / `--cell` fix today: a model its `auxiliary`
  (and its `backbone` where it names one), a cell its `backbone`. Raises
  UsageError for a value they never took."""
  meaning = {}
  if model is not None:
    _choice('model', model, LEGACY_MODELS)
    fixed_backbone, meaning['auxiliary'] = LEGACY_MODELS[model]
    if fixed_backbone is not None:
      meaning['backbone'] = fixed_backbone
  if cell is not None:
    _choice('cell', cell, LEGACY_CELLS)
    if 'backbone' not in meaning:
      meaning['backbone'] = LEGACY_CELLS[cell]
    elif cell != registry.BACKBONES[meaning['backbone']].cell:
      raise UsageError(f'cell={cell} applies to the recurrent models; the '
                       f'{meaning["backbone"]} has no recurrence',
                       fields=('cell',))
  return meaning


def translate_legacy(changes: Mapping, backbone: str, auxiliary: str
                     ) -> Dict:
  """`changes` to a config whose backbone and auxiliary are these, with
  `model` and `cell` replaced by the `backbone` and `auxiliary` they mean
  (`legacy_meaning`; a `backbone` or `auxiliary` also given wins). `model`
  keeps the cell (`--model=r_lstm` on a GRU run stays a GRU) and `cell`
  the objectives; a recurrent model named on a Transformer config is the
  LSTM."""
  if not set(LEGACY_FIELDS) & set(changes):
    return dict(changes)
  changes = dict(changes)
  meaning = legacy_meaning(*(changes.pop(name, None)
                             for name in LEGACY_FIELDS))
  if ('backbone' not in meaning
      and not registry.BACKBONES[backbone].recurrent):
    meaning['backbone'] = LEGACY_DEFAULTS['backbone']
  return {'backbone': backbone, 'auxiliary': auxiliary, **meaning,
          **changes}


def describe_legacy(model: Optional[str] = None, cell: Optional[str] = None
                    ) -> str:
  """What `--model` / `--cell` stand for now, as flags."""
  given = [f'--{name}={value}' for name, value in
           zip(LEGACY_FIELDS, (model, cell)) if value is not None]
  today = [f'--{name}={value}' for name, value in
           sorted(legacy_meaning(model, cell).items())]
  return ' '.join(given + ['means'] + today)


def upgrade(fields: Mapping) -> Dict:
  """The fields of a saved config, as today's config reads them: fields
  added since filled with their old values, `model`/`cell` translated."""
  fields = dict(fields)
  for name, value in BEFORE_FIELD_EXISTED.items():
    fields.setdefault(name, value)
  return translate_legacy(fields, **LEGACY_DEFAULTS)


def follow_saved_defaults(config, saved):
  """`config`, with each field whose default changed since runs were saved
  without it (`BEFORE_FIELD_EXISTED`) taken from `saved` where `config`
  holds today's default: the command a run was started with still resumes
  it after such a default changed. Flags set after this call still win."""
  today = type(config)()
  return config.replace(**{
      name: getattr(saved, name) for name in BEFORE_FIELD_EXISTED
      if getattr(config, name) == getattr(today, name)})
