"""The config's flags in words: their help and the docs' tables, from the
`configs.Config` fields' metadata (the one place each flag is described)."""

import dataclasses
import textwrap

from r_lstm import config_migration, configs


def _flag_value(field: dataclasses.Field, value) -> str:
  """`value` of `field` as a flag would write it."""
  if value is None:
    return '--init' if field.name in configs.INIT_PART_FIELDS else 'unset'
  if isinstance(value, tuple):
    return ','.join(str(n) for n in value)
  if isinstance(value, bool):
    return str(value).lower()
  return str(value)


def _flag_default(field: dataclasses.Field) -> str:
  """The value a run gets without the flag, as a flag would write it."""
  return _flag_value(field, field.default)


def config_help(config: configs.Config, source: str) -> str:
  """--help's config flags by section, each with its value in `config`
  (the config the command line would run with; `source` says where its
  base came from)."""
  lines = textwrap.wrap(
      f'The run\'s config: flags by section, with the values this command '
      f'would run with ({source}; every flag given overrides it). The '
      f'default preset\'s values: docs/FLAGS.md.', width=80)
  for section in configs.SECTIONS:
    lines += ['', f'{section}:']
    for field in configs.section_fields(section):
      choices = field.metadata['choices']
      text = field.metadata['help'] + (
          f' <{"|".join(choices)}>' if choices else '')
      value = _flag_value(field, getattr(config, field.name))
      lines += [f'  --{field.name}={value}'] + textwrap.wrap(
          text, width=80, initial_indent='    ', subsequent_indent='    ')
  return '\n'.join(lines)


def flag_help(field: dataclasses.Field) -> str:
  """A field's flag help: its meaning, choices and default."""
  text = field.metadata['help']
  if field.metadata['choices']:
    text += f' <{"|".join(field.metadata["choices"])}>'
  return f'{text} (default: {_flag_default(field)})'


def flags_markdown() -> str:
  """docs/FLAGS.md: every config flag by section, from the fields'
  metadata."""
  lines = ['# Flags of `python -m r_lstm.train`', '',
           'Generated from the metadata of `r_lstm.configs.Config` '
           '(`tests/docs_test.py` keeps it in sync; regenerate with '
           '`python -c "from r_lstm import flag_docs; '
           'print(flag_docs.flags_markdown(), end=\'\')" > docs/FLAGS.md`). '
           'The defaults are the `default` preset\'s; a preset sets its own '
           '(`--preset`), and every flag given overrides it. '
           '`--workdir`, `--preset` and `--override_config` are described '
           'in the README.', '']
  for section in configs.SECTIONS:
    lines += [f'## {section}', '', '| flag | default | meaning |',
              '|---|---|---|']
    for field in configs.section_fields(section):
      meaning = field.metadata['help'].replace('|', '\\|')
      if field.metadata['choices']:
        meaning += ' Choices: ' + ', '.join(
            f'`{choice}`' for choice in field.metadata['choices']) + '.'
      lines.append(f'| `--{field.name}` | `{_flag_default(field)}` | '
                   f'{meaning} |')
    lines.append('')
  lines += ['## Earlier names', '',
            '`--model` named a backbone and its objectives together, '
            '`--cell` the recurrent backbone; both still work and print what '
            'they stand for, and saved configs that hold them resume. '
            '`--model` keeps the backbone unless it names the Transformer, '
            '`--cell` keeps the objectives:', '',
            '| earlier flag | today |', '|---|---|']
  earlier = ([('model', model) for model in config_migration.LEGACY_MODELS]
             + [('cell', cell) for cell in config_migration.LEGACY_CELLS])
  for name, value in earlier:
    today = config_migration.legacy_meaning(**{name: value})
    flags = ' '.join(f'--{field}={setting}'
                     for field, setting in sorted(today.items()))
    lines.append(f'| `--{name}={value}` | `{flags}` |')
  lines.append('')
  return '\n'.join(lines)


def sections_markdown() -> str:
  """The README's table: each section and its flags (docs/FLAGS.md has
  their meanings)."""
  lines = ['| section | flags |', '|---|---|']
  for section in configs.SECTIONS:
    names = ', '.join(f'`--{field.name}`' for field in configs.section_fields(section))
    lines.append(f'| [{section}](docs/FLAGS.md#{section}) | {names} |')
  return '\n'.join(lines)
