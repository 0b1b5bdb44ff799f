"""Writes a trained model out of the project: a SavedModel that TensorFlow
alone can serve, the `.keras` file, and the run's config (the command line
is `r_lstm.export`).

The tokens the model reads are the sequence after the run's pipeline:
pixels in reading order after any resize, grey conversion and permutation,
or bytes of text; the config says which, so `r_lstm.predict` can score a
dataset with an export alone.
"""

import os
import shutil
import tempfile
from typing import Optional

import keras
import tensorflow as tf

from r_lstm import configs, disk_space, errors, files, input_pipeline
from r_lstm import serving
from r_lstm import train_lib
from r_lstm import workdir as workdir_lib

ENDPOINT = 'serve'
# A local export is written to `<STAGING_PREFIX><pid>-<random>` beside its
# output, then renamed into place (`export_model`).
STAGING_PREFIX = '.export-'
KERAS_FILE = 'model.keras'
# Written last where an export is copied into place: its presence marks a
# complete export.
SAVED_MODEL_FILE = 'saved_model.pb'
CONFIG_FILE = workdir_lib.CONFIG_FILE


def serving_signature(channels: int):
  """The input signature of the exported endpoint."""
  return [tf.TensorSpec([None, None, channels], tf.int32, name='tokens'),
          tf.TensorSpec([None], tf.int32, name='lengths')]


def export_model(model: keras.Model, config: configs.Config, channels: int,
                 output: str,
                 data: Optional[input_pipeline.SequenceData] = None) -> None:
  """Writes `model` to the new directory `output` (see the module doc).

  With the run's `data`, the SavedModel also has the raw-input endpoint
  (`serving.raw_endpoint`: images or text through the run's own
  preprocessing). The directory appears complete or not at all: on a
  local disk it is written next to `output` and renamed into place; on a
  TensorFlow filesystem (`gs://`), which cannot rename a directory at
  once, it is written to a local scratch directory and copied, its
  `saved_model.pb` last, and removed again if the copy fails.
  """
  _check_new_directory(output)
  parent = files.parent(output)
  remote = files.is_url(output)
  scratch = tempfile.gettempdir() if remote else parent
  disk_space.check_room(scratch,
                        disk_space.export_bytes(model.count_params()),
                        'the export', 'Free space there, or export elsewhere.')
  files.makedirs(parent)
  if not remote:
    _remove_abandoned_staging(parent)
  staging = tempfile.mkdtemp(prefix=f'{STAGING_PREFIX}{os.getpid()}-',
                             dir=scratch)
  try:
    archive = keras.export.ExportArchive()
    archive.track(model)

    probabilities = serving.probabilities_of(model)
    archive.add_endpoint(ENDPOINT, probabilities,
                         input_signature=serving_signature(channels))
    raw = data and serving.raw_endpoint(probabilities, config, data)
    if raw:
      archive.add_endpoint(raw.name, raw.function,
                           input_signature=raw.signature)
    archive.write_out(staging, verbose=False)
    model.save(os.path.join(staging, KERAS_FILE))
    with open(os.path.join(staging, CONFIG_FILE), 'w') as f:
      f.write(config.to_json())
    if remote:
      files.copy_tree(staging, output, last=SAVED_MODEL_FILE)
    else:
      # mkdtemp makes it 0700.
      os.chmod(staging, 0o777 & ~files.current_umask())
      os.rename(staging, output)
  finally:
    shutil.rmtree(staging, ignore_errors=True)  # Gone after a rename.


def _process_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Alive, another user's.
    return True
  return True


def _remove_abandoned_staging(parent: str) -> None:
  """Removes the staging directories in `parent` of exports whose process
  is gone (killed mid-write); a live export's is left alone."""
  for name in os.listdir(parent):
    if not name.startswith(STAGING_PREFIX):
      continue
    pid = name[len(STAGING_PREFIX):].split('-')[0]
    if pid.isdigit() and _process_alive(int(pid)):
      continue
    shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def export_workdir(workdir: str, output: str) -> int:
  """Exports the latest checkpoint of the run in `workdir`; its step."""
  _check_new_directory(output)
  run = train_lib.load_trained(workdir)
  export_model(run.model, run.config, run.data.channels, output, run.data)
  return run.step


def load_config(export_dir: str) -> configs.Config:
  """The run config an export holds."""
  path = os.path.join(export_dir, CONFIG_FILE)
  if not files.isfile(path):
    raise errors.UsageError(f'{export_dir} is not an r_lstm export: it has '
                            f'no {CONFIG_FILE}')
  try:
    text = files.read_text(path)
  except OSError as error:
    raise errors.UsageError(f'{export_dir} is not an r_lstm export: cannot '
                            f'read {path} ({error.strerror})') from None
  return configs.Config.from_json(text, source=path)


def load_saved_model(export_dir: str):
  """The export's SavedModel; UsageError naming the damage when it cannot
  be loaded (a truncated saved_model.pb, missing variables)."""
  try:
    served = tf.saved_model.load(export_dir)
  except (OSError, ValueError, tf.errors.OpError) as error:
    reason = str(error).strip().splitlines()[0][:300]
    raise errors.UsageError(
        f'{export_dir} is a damaged export: its SavedModel does not load '
        f'({reason}); export the run again') from None
  if not hasattr(served, ENDPOINT):
    raise errors.UsageError(f'{export_dir} is not an r_lstm export: its '
                            f'SavedModel has no {ENDPOINT} endpoint')
  return served


def served_channels(served, export_dir: str) -> int:
  """The tokens per step the export's endpoint reads, after checking that
  its signature is `serving_signature`'s; UsageError otherwise."""
  signature = served.signatures.get('serving_default')
  inputs = signature and signature.structured_input_signature[1]
  tokens = inputs and inputs.get('tokens')
  if (not inputs or set(inputs) != {'tokens', 'lengths'}
      or tokens.dtype != tf.int32 or tokens.shape.rank != 3
      or tokens.shape[-1] is None):
    raise errors.UsageError(
        f'{export_dir} is not an r_lstm export: its serving signature takes '
        f'{inputs or "nothing"}, not (tokens int32 [batch, steps, channels], '
        'lengths int32 [batch])')
  return tokens.shape[-1]


def is_export(path: str) -> bool:
  return files.isfile(os.path.join(path, SAVED_MODEL_FILE))


def _check_new_directory(output: str) -> None:
  """Raises UsageError unless `output` can be made as a new directory
  (missing parents are made)."""
  if files.exists(output):
    raise errors.UsageError(f'{output} exists; exports go to a new '
                            'directory')
  if files.is_url(output):
    return  # Object stores have no ancestors to check.
  ancestor = os.path.dirname(os.path.abspath(output))
  while not os.path.lexists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if not os.path.isdir(ancestor):
    raise errors.UsageError(f'{output}: {ancestor} is not a directory')
  if not os.access(ancestor, os.W_OK | os.X_OK):
    raise errors.UsageError(f'{output}: {ancestor} is not writable')
