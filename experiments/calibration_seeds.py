r"""The calibration reference (`../shared/calibration/rlstm_torch_ref.py`)
with another seed, to see how far its single recorded run is from its own
seed-to-seed spread.

The reference seeds PyTorch and NumPy with 0 and has no seed flag; this
wrapper runs it unchanged, with `torch.manual_seed` and `np.random.seed`
shifted by --seed (0 is the reference as it is). Every argument after `--`
goes to the reference, e.g.

  python -m experiments.calibration_seeds --seed=1 -- \
      --data ../shared/datasets/mnist.npz --batch 32 --bptt 300 --l 200 \
      --steps 3000 --eval_every 500 --eval_n 10000 --device cpu \
      --out runs/calibration/r_lstm_seed_1.json

Needs PyTorch (`pip install torch==2.13.0`; never a dependency of r_lstm).
"""

import argparse
import os
import runpy
import sys

import numpy as np
import torch

REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                         '..', 'shared', 'calibration', 'rlstm_torch_ref.py')


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--reference', default=REFERENCE)
  ours, theirs = parser.parse_known_args()
  if theirs[:1] == ['--']:
    theirs = theirs[1:]
  manual_seed, numpy_seed = torch.manual_seed, np.random.seed
  torch.manual_seed = lambda seed: manual_seed(seed + ours.seed)
  np.random.seed = lambda seed: numpy_seed(seed + ours.seed)
  sys.argv = [ours.reference, *theirs]
  runpy.run_path(ours.reference, run_name='__main__')


if __name__ == '__main__':
  main()
