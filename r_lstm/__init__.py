"""r_lstm: LSTMs with auxiliary losses (Trinh et al., ICML 2018).

The Python API (README, "Python API"): the functions the command line
runs. `preset`/`Config` make a run's config, `train_and_evaluate` trains it
in a workdir, `load_trained` restores a workdir's latest checkpoint
as a `Run` (its `Trainer`, `Evaluator` and checkpoints),
`export_workdir` writes it out (`r_lstm.export`), and
`build_model(config, load_data(config))` gives an untrained Keras model,
which `compile(optimizer, recipe=Recipe.from_config(config))` and `fit` on
`fit_dataset(train_dataset(...))` batches train with the same updates.
"""

import importlib

# Name -> (module, attribute): imported on first use (PEP 562), so that
# `python -m r_lstm.train` imports TensorFlow only through `r_lstm.cli`.
_API = {
    'Config': ('configs', 'Config'), 'PRESETS': ('presets', 'PRESETS'),
    'preset': ('presets', 'preset'), 'UsageError': ('errors', 'UsageError'),
    'export_model': ('export_lib', 'export_model'),
    'export_workdir': ('export_lib', 'export_workdir'),
    'eval_dataset': ('input_pipeline', 'eval_dataset'),
    'fit_dataset': ('input_pipeline', 'fit_dataset'),
    'train_dataset': ('input_pipeline', 'train_dataset'),
    'load_data': ('input_pipeline', 'load'),
    'SequenceClassifier': ('models', 'SequenceClassifier'),
    'Recipe': ('steps', 'Recipe'), 'Trainer': ('trainer', 'Trainer'),
    'Evaluator': ('evaluator', 'Evaluator'), 'Run': ('train_lib', 'Run'),
    'build_model': ('trainer', 'build_model'),
    'load_trained': ('train_lib', 'load_trained'),
    'train_and_evaluate': ('train_lib', 'train_and_evaluate'),
}
__all__ = sorted(_API)


def __getattr__(name):
  if name not in _API:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  module, attribute = _API[name]
  value = getattr(importlib.import_module(f'{__name__}.{module}'), attribute)
  globals()[name] = value
  return value


def __dir__():
  return sorted(set(globals()) | set(_API))
