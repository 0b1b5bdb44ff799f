"""r_lstm: LSTMs with auxiliary losses (Trinh et al., ICML 2018).

The Python API (README, "Python API"): the functions the command line
runs. `preset`/`Config` make a run's config, `train_and_evaluate` trains it
in a workdir, `load_trained` restores a workdir's latest checkpoint,
`export_workdir` writes it out (`r_lstm.export`), and
`build_model(config, load_data(config))` gives an untrained Keras model,
which `compile(optimizer, recipe=Recipe.from_config(config))` and `fit` on
`fit_dataset(train_dataset(...))` batches train with the same updates.
"""

from r_lstm.configs import Config, PRESETS, preset
from r_lstm.errors import UsageError
from r_lstm.export_lib import export_model, export_workdir
from r_lstm.input_pipeline import eval_dataset, fit_dataset, train_dataset
from r_lstm.input_pipeline import load as load_data
from r_lstm.models import SequenceClassifier
from r_lstm.steps import Recipe
from r_lstm.train_lib import Trainer, build_model, load_trained
from r_lstm.train_lib import train_and_evaluate

__all__ = ['Config', 'PRESETS', 'Recipe', 'SequenceClassifier', 'Trainer',
           'UsageError', 'build_model', 'eval_dataset', 'export_model',
           'export_workdir', 'fit_dataset', 'load_data', 'load_trained',
           'preset', 'train_and_evaluate', 'train_dataset']
