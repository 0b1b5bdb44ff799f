"""Character-level text classification from CSV files (DBpedia and siblings).

The layout of the standard character-level sets (Zhang et al., 2015:
DBpedia, AG News, Yelp, Yahoo! Answers, Amazon): a directory with
`train.csv` and `test.csv`, rows `"class","field",...` with 1-based classes,
and optionally `classes.txt`, one class name per line. The text of a row is
its fields after the class joined by one space (for DBpedia: title and
content); its tokens are the bytes of its UTF-8 encoding, so the vocabulary
is 256 and non-ASCII characters take several steps.
"""

import csv
import os
from typing import NamedTuple, Optional

import numpy as np

from r_lstm.errors import UsageError

SPLIT_FILES = {'train': 'train.csv', 'test': 'test.csv'}
CLASSES_FILE = 'classes.txt'
# Labels are int32 tensors; far fewer classes than this would already
# exhaust memory in the classifier head (the run's memory check says so).
MAX_CLASS = 2 ** 31 - 1


class TextSplit(NamedTuple):
  tokens: np.ndarray  # (N, T, 1) uint8, zero-padded after each length.
  lengths: np.ndarray  # (N,) int32, 1 <= length <= T.
  labels: np.ndarray  # (N,) int32, 0-based.


def find_directory(data_dir: Optional[str], name: str) -> str:
  """`data_dir` itself, or its `<name>_csv` subdirectory (the name the
  original archives unpack to), whichever holds train.csv."""
  if not data_dir:
    raise UsageError(f'dataset={name} reads CSV files from data_dir; '
                     f'pass the directory holding train.csv and test.csv',
                     fields=('dataset', 'data_dir'))
  for directory in (data_dir, os.path.join(data_dir, f'{name}_csv')):
    if os.path.isfile(os.path.join(directory, SPLIT_FILES['train'])):
      return directory
  raise UsageError(f'no {SPLIT_FILES["train"]} in {data_dir} or '
                   f'{os.path.join(data_dir, name + "_csv")}; {name} needs '
                   'train.csv and test.csv (rows "class","title","content")')


def read_num_classes(directory: str) -> Optional[int]:
  path = os.path.join(directory, CLASSES_FILE)
  if not os.path.isfile(path):
    return None
  try:
    with open(path, encoding='utf-8') as f:
      names = [line.strip() for line in f if line.strip()]
  except UnicodeDecodeError as error:
    raise UsageError(f'{path} is not UTF-8 text: {error}') from None
  except OSError as error:
    raise UsageError(f'cannot read {path}: {error.strerror}') from None
  if not names:
    raise UsageError(f'{path} lists no classes')
  return len(names)


def load(directory: str, max_length: Optional[int]):
  """Reads both splits; returns (train, test, num_classes).

  Args:
    directory: holds train.csv, test.csv and optionally classes.txt.
    max_length: keep only the first `max_length` bytes of each text (None
      keeps all); sequences are padded to the longest kept text.
  """
  num_classes = read_num_classes(directory)
  fields = None
  rows = {}
  for split, file_name in SPLIT_FILES.items():
    path = os.path.join(directory, file_name)
    rows[split], fields = _read_rows(path, fields, num_classes)
  if num_classes is None:
    num_classes = max(label for texts in rows.values()
                      for label, _ in texts) + 1
  length = max(len(text) for texts in rows.values() for _, text in texts)
  if max_length is not None:
    length = min(length, max_length)
  return (_as_split(rows['train'], length), _as_split(rows['test'], length),
          num_classes)


def _read_rows(path: str, fields: Optional[int], num_classes: Optional[int]):
  """[(0-based label, UTF-8 bytes)] of one CSV file, and its field count."""
  if not os.path.isfile(path):
    raise UsageError(f'{path} does not exist; text datasets need train.csv '
                     'and test.csv')
  rows = []
  try:
    with open(path, newline='', encoding='utf-8') as f:
      reader = csv.reader(f, strict=True)
      for row in reader:
        where = f'{path}, line {reader.line_num}'
        fields = fields or len(row)
        if len(row) != fields or len(row) < 2:
          raise UsageError(f'{where}: expected {max(fields, 2)} fields '
                           f'("class","text",...), got {len(row)}')
        try:
          label = int(row[0])
        except ValueError:
          raise UsageError(f'{where}: class {row[0]!r} is not an '
                           'integer') from None
        if (label < 1 or label > MAX_CLASS
            or (num_classes is not None and label > num_classes)):
          limit = f'1..{num_classes or MAX_CLASS}'
          raise UsageError(f'{where}: class {label} is out of range '
                           f'({limit}; classes are 1-based)')
        text = ' '.join(row[1:]).encode('utf-8')
        if not text:
          raise UsageError(f'{where}: empty text')
        rows.append((label - 1, text))
  except csv.Error as error:
    raise UsageError(f'{path}: malformed CSV: {error}') from None
  except UnicodeDecodeError as error:
    raise UsageError(f'{path} is not UTF-8 text: {error}') from None
  except OSError as error:
    raise UsageError(f'cannot read {path}: {error.strerror}') from None
  if not rows:
    raise UsageError(f'{path} has no rows: empty split')
  return rows, fields


def _as_split(rows, length: int) -> TextSplit:
  tokens = np.zeros([len(rows), length, 1], np.uint8)
  lengths = np.zeros([len(rows)], np.int32)
  for i, (_, text) in enumerate(rows):
    kept = np.frombuffer(text[:length], np.uint8)
    tokens[i, :len(kept), 0] = kept
    lengths[i] = len(kept)
  labels = np.array([label for label, _ in rows], np.int32)
  return TextSplit(tokens, lengths, labels)
