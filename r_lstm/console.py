"""Console scripts: `r-lstm-train` runs `python -m r_lstm.train`, and so on
for every tool (pyproject.toml's [project.scripts] names them)."""

import importlib


def _tool(module: str):
  """The console script that runs `python -m r_lstm.<module>`."""
  def run():
    tool = importlib.import_module(f'r_lstm.{module}')
    from r_lstm import cli  # pylint: disable=g-import-not-at-top
    cli.run(tool.main, getattr(tool, 'config_help', None))
  return run


train = _tool('train')
evaluate = _tool('evaluate')
export = _tool('export')
predict = _tool('predict')
report = _tool('report')
import_arrays = _tool('import_arrays')
decode_images = _tool('decode_images')
