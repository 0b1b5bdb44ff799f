"""The rules a config obeys: its JSON types, each field's allowed values
and range (from the field's metadata, `configs._field`), the rules between
fields, and which fields a resumed run may change. No TensorFlow."""

import dataclasses
import difflib
import json
import math
import typing
from typing import Optional, Tuple

from r_lstm import config_migration, registry
from r_lstm.errors import UsageError


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


def type_name(annotation) -> str:
  origin, args = typing.get_origin(annotation), typing.get_args(annotation)
  if origin is typing.Union:
    return ' or '.join(type_name(arg) for arg in args)
  if origin is tuple:
    return f'a list of {_TYPE_NAMES[args[0]][len("an "):].lstrip()}s'
  return _TYPE_NAMES[annotation]


# Fields a resumed run may change: how long it runs, how it reports and how
# it computes (the same values), not what it trains.
RESUMABLE_FIELDS = frozenset({
    'train_steps', 'steps_per_loop', 'eval_every', 'checkpoint_every',
    'max_checkpoints', 'eval_batch_size', 'data_dir', 'deterministic',
    'strategy', 'decoder_rnn', 'rnn_gradient', 'early_stopping_patience',
    'early_stopping_metric'})


def differences(saved, new) -> Tuple[str, ...]:
  """'field: saved -> new' for each field a resumed run must keep."""
  return tuple(
      f'{field.name}: {getattr(saved, field.name)!r} -> '
      f'{getattr(new, field.name)!r}'
      for field in dataclasses.fields(saved)
      if field.name not in RESUMABLE_FIELDS
      and getattr(saved, field.name) != getattr(new, field.name))


def _range_error(field: dataclasses.Field, value) -> Optional[str]:
  """What is wrong with `value` against the field's range, or None."""
  low, high, above = (field.metadata[key]
                      for key in ('minimum', 'maximum', 'above'))
  values = value if isinstance(value, tuple) else (value,)
  if isinstance(value, tuple):
    if any(v < low for v in values):
      return f'{field.name} must be positive, got {value}'
    return None
  if above is not None and not value > above:
    return f'{field.name} must be > {above}, got {value}'
  if high is not None and not low <= value <= high:
    span = (f'{low}..{high}' if isinstance(value, int)
            else f'[{low}, {high}]')
    return f'{field.name} must be in {span}, got {value}'
  if low is not None and value < low:
    if low == 1 and isinstance(value, int):
      return f'{field.name} must be a positive integer, got {value}'
    if low == 0:
      return f'{field.name} must be >= 0, got {value}'
    return f'{field.name} must be at least {low}, got {value}'
  return None


def validate(config) -> None:
  """Raises UsageError naming the first bad field of `config`: each field
  against its metadata (finite, one of its choices, in its range), then
  the rules between fields."""
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    if value is None:
      continue
    if isinstance(value, float) and not math.isfinite(value):
      raise UsageError(f'{field.name} must be a finite number, got {value}',
                       fields=(field.name,))
    choices = field.metadata['choices']
    if choices and value not in choices:
      follow = (f', or leave it unset to {field.metadata["unset"]}'
                if field.metadata.get('unset') else '')
      near = difflib.get_close_matches(str(value), choices, n=1)
      guess = f'did you mean {near[0]}? ' if near else ''
      raise UsageError(f'unknown value {value!r} for {field.name}; {guess}'
                       f'choose one of {", ".join(choices)}{follow}',
                       fields=(field.name,))
    error = _range_error(field, value)
    if error:
      raise UsageError(error, fields=(field.name,))
  if config.transformer_units % config.transformer_heads:
    raise UsageError(f'transformer_units={config.transformer_units} must be '
                     f'divisible by transformer_heads='
                     f'{config.transformer_heads}',
                     fields=('transformer_units', 'transformer_heads'))
  if config.objectives and not config.backbone_entry.recurrent:
    raise UsageError(f'auxiliary={config.auxiliary} needs a state to start '
                     f'from, and backbone={config.backbone} has none (use '
                     f'one of {", ".join(recurrent_backbones())})',
                     fields=('auxiliary', 'backbone'))
  if config.pretrain_steps and not config.objectives:
    with_objectives = [name for name, objectives in registry.AUXILIARY.items()
                       if objectives]
    raise UsageError(f'pretrain_steps needs objectives to pretrain; '
                     f'auxiliary={config.auxiliary} has none (use one of '
                     f'{", ".join(with_objectives)})',
                     fields=('pretrain_steps', 'auxiliary'))
  if config.warmup_steps >= config.train_steps:
    raise UsageError(f'warmup_steps={config.warmup_steps} must be fewer than '
                     f'train_steps={config.train_steps}',
                     fields=('warmup_steps', 'train_steps'))


def recurrent_backbones() -> Tuple[str, ...]:
  return tuple(name for name, backbone in registry.BACKBONES.items()
               if backbone.recurrent)


def check_sequence_length(config, max_length: int) -> None:
  """Raises UsageError when the data is too short for the auxiliary loss."""
  if config.objectives and config.aux_length >= max_length:
    raise UsageError(f'aux_length={config.aux_length} must be shorter than '
                     f'the sequences of {config.dataset} ({max_length} steps)',
                     fields=('aux_length',))


def parse_json(cls, text: str, source: str):
  """`cls.from_json`: the config `text` holds, upgraded from an earlier
  version's fields, each field's type checked; UsageError naming `source`
  when it is not a run config."""
  try:
    fields = json.loads(text)
  except ValueError as error:
    raise UsageError(f'{source} is not valid JSON: {error}') from None
  names = {field.name for field in dataclasses.fields(cls)}
  if not isinstance(fields, dict):
    raise UsageError(f'{source} is not an r_lstm run config')
  try:
    fields = config_migration.upgrade(fields)
  except UsageError as error:
    raise UsageError(f'{source}: {error}') from None
  if set(fields) - names:
    raise UsageError(f'{source} is not an r_lstm run config (unknown '
                     f'fields {sorted(set(fields) - names)})')
  hints = typing.get_type_hints(cls)
  for name, value in fields.items():
    if not has_type(value, hints[name]):
      raise UsageError(f'{source}: field {name} is {value!r}, not '
                       f'{type_name(hints[name])}')
  for name in ('head_units', 'decoder_head_units'):
    if name in fields:
      fields[name] = tuple(fields[name])
  try:
    return cls(**fields)
  except TypeError as error:
    raise UsageError(f'{source} is not an r_lstm run config: '
                     f'{error}') from None
