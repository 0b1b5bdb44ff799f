"""Dtype policies (`--precision`) for layers made inside other layers."""

import contextlib

import keras


@contextlib.contextmanager
def policy_scope(policy):
  """Keras' global dtype policy set to `policy` while layers are made, and
  restored afterwards.

  A Keras layer takes the global policy when it is made, not its parent's:
  the classifiers make their sublayers in `__init__` under their own policy,
  so that a model made or loaded (`keras.models.load_model`, whose config
  holds only the outer policy) with `dtype='mixed_bfloat16'` computes in
  bfloat16 throughout.
  """
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(policy)
  try:
    yield
  finally:
    keras.config.set_dtype_policy(previous)
