"""Tests of the metrics writer and the segment images."""

import glob
import io
import json
import os

import numpy as np
import tensorflow as tf

from tensorboard.plugins.hparams import plugin_data_pb2

from r_lstm import summaries


def event_tags(workdir, run):
  """Every summary tag in the events files of `workdir/run`."""
  tags = set()
  for path in glob.glob(os.path.join(workdir, run, 'events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags |= {value.tag for value in event.summary.value}
  return tags


class ReportingTest(tf.test.TestCase):

  def test_rows_go_to_the_metrics_file_tensorboard_and_terminal(self):
    workdir = self.create_tempdir().full_path
    stream = io.StringIO()
    reporter = summaries.Reporter(workdir, total_steps=100, stream=stream)
    reporter.start(0)
    reporter.write(5, 'train', {'loss/supervised': 2.6, 'accuracy': 0.2},
                   phase='auxiliary-only')
    reporter.write(10, 'train', {'loss/supervised': 2.5, 'accuracy': 0.25})
    reporter.write(10, 'test', {'accuracy': 0.5, 'examples': 37})
    reporter.write_images(10, {'segments/x': np.zeros([2, 3, 4, 1],
                                                      np.uint8)})
    with open(os.path.join(workdir, summaries.METRICS_FILE)) as f:
      rows = [json.loads(line) for line in f]
    rows = rows[1:]
    self.assertEqual(rows[0]['split'], 'train')
    self.assertEqual(rows[0]['loss/supervised'], 2.5)
    self.assertGreater(rows[0]['steps_per_sec'], 0)
    self.assertEqual(rows[1], {'step': 10, 'split': 'test', 'accuracy': 0.5,
                               'examples': 37})
    first, second, test = stream.getvalue().splitlines()
    self.assertStartsWith(first, 'train step 5/100 (auxiliary-only) | ')
    # The first interval after a start may include tracing: no ETA yet.
    self.assertNotIn('ETA', first)
    self.assertStartsWith(second, 'train step 10/100 | loss/supervised 2.5')
    self.assertIn(' | [##..................] 10% ETA ', second)
    self.assertNotIn('[', test)
    self.assertIn('examples 37', test)
    self.assertEqual(event_tags(workdir, 'train'),
                     {'loss/supervised', 'accuracy', 'steps_per_sec'})
    # Evaluation rows share the tag names; a constant count is no curve.
    self.assertEqual(event_tags(workdir, 'eval'), {'accuracy', 'segments/x'})

  def test_progress_bar(self):
    self.assertEqual(summaries.progress_bar(0, 40), '[....................] 0%')
    self.assertEqual(summaries.progress_bar(30, 40),
                     '[###############.....] 75%')
    self.assertEqual(summaries.progress_bar(40, 40),
                     '[####################] 100%')

  def test_config_goes_to_tensorboard_as_text_and_hparams(self):
    workdir = os.path.join(self.create_tempdir().full_path, 'my_run')
    reporter = summaries.Reporter(workdir, total_steps=1,
                                  stream=io.StringIO())
    reporter.write_config({'model': 'r_lstm', 'bptt': 300, 'lr': 1e-3,
                           'head_units': (256, 256), 'image_size': None,
                           'grayscale': False}, '{"model": "r_lstm"}')
    [events] = glob.glob(os.path.join(workdir, 'events.out.tfevents.*'))
    values = [value for event in
                 tf.compat.v1.train.summary_iterator(events)
                 for value in event.summary.value]
    self.assertEqual({v.tag for v in values},
                     {'config', '_hparams_/session_start_info'})
    [start] = [v for v in values if v.tag.startswith('_hparams_')]
    self.assertEqual(start.metadata.plugin_data.plugin_name, 'hparams')
    session = plugin_data_pb2.HParamsPluginData.FromString(
        start.metadata.plugin_data.content).session_start_info
    self.assertEqual(session.group_name, 'my_run')
    self.assertEqual(session.hparams['model'].string_value, 'r_lstm')
    self.assertEqual(session.hparams['bptt'].number_value, 300)
    self.assertEqual(session.hparams['head_units'].string_value, '256,256')
    self.assertEqual(session.hparams['image_size'].string_value, 'None')
    self.assertFalse(session.hparams['grayscale'].bool_value)

  def test_segment_images_mark_predictions_over_a_dimmed_original(self):
    tokens = np.arange(2 * 6, dtype=np.uint8).reshape(2, 6, 1) * 20
    steps = np.array([[1, 4], [2, 5]])  # (L=2, N=2)
    predicted = np.array([[[7], [8]], [[9], [10]]])
    images = summaries.segment_images(tokens, steps, predicted, (2, 3, 1),
                                      min_height=5)
    scale = 3  # The smallest k with 2k >= 5.
    self.assertEqual(images.shape, (2, 2 * scale, 7 * scale, 3))
    self.assertEqual(images.dtype, np.uint8)
    small = images[:, ::scale, ::scale]  # One pixel per original pixel.
    self.assertAllEqual(np.repeat(np.repeat(small, scale, 1), scale, 2),
                        images)
    for channel in range(3):
      self.assertAllEqual(small[:, :, :3, channel], tokens.reshape(2, 2, 3))
    self.assertAllEqual(small[:, :, 3], np.full([2, 2, 3], 255))
    right = small[:, :, 4:].reshape(2, 6, 3)
    predicted_mask = np.zeros([2, 6], bool)
    predicted_mask[0, [1, 2]] = predicted_mask[1, [4, 5]] = True
    dimmed = tokens[..., 0] // 4
    for channel in range(3):
      self.assertAllEqual(right[~predicted_mask][:, channel],
                          dimmed[~predicted_mask])
    # Predicted pixels: their value, tinted green.
    values = np.array([7, 9, 8, 10], np.float32)
    tint = summaries.PREDICTED_TINT
    self.assertAllClose(right[predicted_mask][:, 0],
                        np.round((1 - tint) * values), atol=1)
    self.assertAllClose(right[predicted_mask][:, 1],
                        np.round((1 - tint) * values + tint * 255), atol=1)

  def test_colour_images_keep_their_channels(self):
    tokens = np.full((1, 4, 3), [200, 100, 50], np.uint8)
    images = summaries.segment_images(tokens, np.array([[0]]),
                                      np.array([[[10, 20, 30]]]), (2, 2, 3),
                                      min_height=2)
    self.assertAllEqual(images[0, 0, 0], [200, 100, 50])
    self.assertAllEqual(images[0, 1, 4], [50, 25, 12])  # Dimmed, not predicted.

if __name__ == '__main__':
  tf.test.main()
