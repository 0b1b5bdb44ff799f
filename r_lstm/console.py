"""Console scripts: `r-lstm-train` runs `python -m r_lstm.train`, and so on
for every tool (pyproject.toml's [project.scripts] names them)."""

import importlib

from absl import app


def _tool(module: str):
  """The console script that runs `python -m r_lstm.<module>`."""
  def run():
    app.run(importlib.import_module(f'r_lstm.{module}').main)
  return run


train = _tool('train')
evaluate = _tool('evaluate')
export = _tool('export')
predict = _tool('predict')
report = _tool('report')
import_arrays = _tool('import_arrays')
decode_images = _tool('decode_images')
