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
import importlib.abc
import importlib.util
import os
import sys

from r_lstm import startup

# TensorFlow's C++ INFO lines (its start-up notices among them) are not for
# a user of the API; a level the user set is kept, and the command line's
# --verbosity brings them back (r_lstm.startup). It can only apply before
# TensorFlow is imported.
QUIETED_TENSORFLOW = ('tensorflow' not in sys.modules
                      and 'TF_CPP_MIN_LOG_LEVEL' not in os.environ)
if QUIETED_TENSORFLOW:
  os.environ['TF_CPP_MIN_LOG_LEVEL'] = '1'

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


def _register_keras_classes():
  """Imports every module that registers a Keras-serializable class (the
  backbones' and the objectives'), so that `keras.models.load_model`
  finds them by their registered names."""
  from r_lstm import registry  # pylint: disable=import-outside-toplevel
  for backbone in registry.BACKBONES.values():
    backbone.load()
  for objective in registry.OBJECTIVES:
    registry.objective_class(objective)


def _dropping_notices() -> bool:
  """Whether TensorFlow's start-up notices are to be dropped: the level
  r_lstm set is still in place (`--verbosity` removes it). They need
  dropping, not only a level: where oneDNN's custom operations are on (by
  default on AVX-512 CPUs) TensorFlow prints them before any level
  applies."""
  return QUIETED_TENSORFLOW and os.environ.get('TF_CPP_MIN_LOG_LEVEL') == '1'


def _initializing(name: str) -> bool:
  spec = getattr(sys.modules.get(name), '__spec__', None)
  return bool(getattr(spec, '_initializing', False))


class _AfterKerasImport(importlib.abc.MetaPathFinder):
  """Registers r_lstm's Keras classes once Keras is imported and no import
  it takes part in is still running.

  `import r_lstm` must stay free of TensorFlow (the command line sets its
  log level first, and configs are read without it), yet
  `keras.models.load_model` on an r_lstm `.keras` file must work after a
  plain `import r_lstm`, whatever the user imports next. Keras finds a
  class only by its registered name, so the registering modules must have
  run. This finder wraps the loading of `keras`, `tensorflow` (each
  imports the other, in either order) and r_lstm's own modules (which
  import them, and which the registration imports in turn), and registers
  when the last of those still running finishes."""

  def find_spec(self, name, path=None, target=None):
    del path, target
    if not self._hooked(name):
      return None
    sys.meta_path.remove(self)  # The lookup below must not find us again.
    try:
      spec = importlib.util.find_spec(name)
    finally:
      sys.meta_path.insert(0, self)
    if spec is None or spec.loader is None:
      return spec
    exec_module = spec.loader.exec_module

    def exec_and_register(module):
      if name in ('keras', 'tensorflow') and _dropping_notices():
        startup.dropping_notices(lambda: exec_module(module))
      else:
        exec_module(module)
      self.register_when_ready(finished=name)

    spec.loader.exec_module = exec_and_register
    return spec

  @staticmethod
  def _hooked(name: str) -> bool:
    return name in ('keras', 'tensorflow') or name.startswith(__name__ + '.')

  def register_when_ready(self, finished: str):
    """After `finished` ran (it counts as initializing until its loader
    returns): registers unless another hooked import is still running."""
    if 'keras' not in sys.modules or any(
        _initializing(name) for name in list(sys.modules)
        if name != finished and self._hooked(name)):
      return
    if self in sys.meta_path:
      sys.meta_path.remove(self)
      _register_keras_classes()


if 'keras' in sys.modules:
  _register_keras_classes()
elif not any(isinstance(finder, _AfterKerasImport) for finder in sys.meta_path):
  sys.meta_path.insert(0, _AfterKerasImport())
