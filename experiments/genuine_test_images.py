r"""Does a CIFAR-10 result come from the JPEG compression?

  python -m experiments.genuine_test_images \
      --workdir=runs/fidelity/cifar10_r_lstm_t300/seed_0

Scores a run trained on the CIFAR-10 JPEG copy (docs/transfer.md) on the
1,017 genuine test images of --genuine and on their JPEG copies in the run's
own test split. The copy stores its test images class by class, so each
genuine image is matched to the nearest copy of its class (mean absolute
pixel difference: about 6 / 255 for the true copy, about 70 for another
image). Equal accuracies mean the compression does not make the result.
"""

import dataclasses
import json

from absl import app
from absl import flags
import numpy as np

from r_lstm import evaluate, input_pipeline, train_lib

# --workdir (a run trained on the CIFAR-10 JPEG copy) is r_lstm.evaluate's.
flags.adopt_module_key_flags(evaluate)
flags.DEFINE_string('genuine', '../shared/datasets/cifar10_subset.npz',
                    'Keras-layout arrays holding the genuine test images.')

FLAGS = flags.FLAGS


def match_copies(genuine: input_pipeline.Split,
                 copies: input_pipeline.Split) -> np.ndarray:
  """For each genuine example, the index of the copy of the same label with
  the smallest mean absolute token difference."""
  matches = np.empty(len(genuine), np.int64)
  for label in np.unique(genuine.labels):
    same = np.flatnonzero(copies.labels == label)
    candidates = copies.tokens[same].astype(np.int16)
    for row in np.flatnonzero(genuine.labels == label):
      distance = np.abs(candidates - genuine.tokens[row].astype(np.int16))
      matches[row] = same[np.argmin(distance.mean(axis=(1, 2)))]
  return matches


def main(argv):
  del argv
  run = train_lib.load_trained(FLAGS.workdir)
  genuine = input_pipeline.load(
      run.config.replace(dataset=f'npz:{FLAGS.genuine}')).test
  copies = run.data.test
  matches = match_copies(genuine, copies)
  scores = {}
  for name, split in (('genuine', genuine), ('jpeg_copies', dataclasses.replace(
      copies, tokens=copies.tokens[matches], lengths=copies.lengths[matches],
      labels=copies.labels[matches]))):
    run.evaluator.data = dataclasses.replace(run.data, test=split)
    scores[name] = run.evaluate()['accuracy']
  print(json.dumps({'workdir': FLAGS.workdir, 'step': int(run.step),
                    'examples': len(genuine), **scores}))


if __name__ == '__main__':
  app.run(main)
