"""Tests of the metrics writer and the segment images."""

import glob
import io
import json
import os

import numpy as np
import tensorflow as tf

from r_lstm import reporting


class ReportingTest(tf.test.TestCase):

  def test_rows_go_to_the_metrics_file_tensorboard_and_terminal(self):
    workdir = self.create_tempdir().full_path
    stream = io.StringIO()
    reporter = reporting.Reporter(workdir, total_steps=100, stream=stream)
    reporter.start(0)
    reporter.write(10, 'train', {'loss/supervised': 2.5, 'accuracy': 0.25})
    reporter.write(10, 'test', {'accuracy': 0.5, 'examples': 37})
    reporter.write_images(10, {'segments/x': np.zeros([2, 3, 4, 1],
                                                      np.uint8)})
    with open(os.path.join(workdir, reporting.METRICS_FILE)) as f:
      rows = [json.loads(line) for line in f]
    self.assertEqual(rows[0]['split'], 'train')
    self.assertEqual(rows[0]['loss/supervised'], 2.5)
    self.assertGreater(rows[0]['steps_per_sec'], 0)
    self.assertEqual(rows[1], {'step': 10, 'split': 'test', 'accuracy': 0.5,
                               'examples': 37})
    lines = stream.getvalue().splitlines()
    self.assertStartsWith(lines[0], 'train step 10/100 | loss/supervised 2.5')
    self.assertIn('ETA', lines[0])
    self.assertIn('examples 37', lines[1])
    [events] = glob.glob(os.path.join(workdir, 'events.out.tfevents.*'))
    tags = set()
    for event in tf.compat.v1.train.summary_iterator(events):
      tags |= {value.tag for value in event.summary.value}
    self.assertContainsSubset(
        {'train/loss/supervised', 'train/steps_per_sec', 'test/accuracy',
         'segments/x'}, tags)

  def test_segment_images_draw_predictions_over_a_dimmed_original(self):
    tokens = np.arange(2 * 6, dtype=np.uint8).reshape(2, 6, 1) * 20
    steps = np.array([[1, 4], [2, 5]])  # (L=2, N=2)
    predicted = np.array([[[7], [8]], [[9], [10]]])
    images = reporting.segment_images(tokens, steps, predicted, (2, 3, 1))
    self.assertEqual(images.shape, (2, 2, 7, 1))
    self.assertEqual(images.dtype, np.uint8)
    self.assertAllEqual(images[:, :, :3, 0], tokens.reshape(2, 2, 3))
    self.assertAllEqual(images[:, :, 3, 0], np.full([2, 2], 255))
    want = tokens[..., 0] // 4
    want[0, [1, 2]] = [7, 9]
    want[1, [4, 5]] = [8, 10]
    self.assertAllEqual(images[:, :, 4:, 0], want.reshape(2, 2, 3))


if __name__ == '__main__':
  tf.test.main()
