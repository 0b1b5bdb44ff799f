"""Tests of the training loop: updates, distribution, evaluation, restore."""

import os

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from r_lstm import errors, input_pipeline, registry, summaries, train_lib
from r_lstm import evaluator as evaluator_lib
from r_lstm import trainer as trainer_lib
from tests import testing


def _one_batch_iterator(trainer, split):
  dataset = tf.data.Dataset.from_tensors(
      (split.tokens, split.lengths, split.labels)).repeat()
  return iter(trainer.strategy.experimental_distribute_dataset(dataset))


def _weights(trainer):
  return [v.numpy().copy() for v in trainer.model.trainable_variables]


class TrainLibTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.data = testing.tiny_data()
    self.workdir = self.create_tempdir().full_path

  @parameterized.parameters(
      # Every backbone with every objective set it takes.
      *[(backbone, auxiliary, 1.0, 'shared')
        for backbone, entry in registry.BACKBONES.items()
        for auxiliary, objectives in registry.AUXILIARY.items()
        if entry.recurrent or not objectives],
      ('lstm', 'reconstruction', 0.0, 'shared'),
      ('lstm', 'both', 0.5, 'own'),
      ('lstm', 'reconstruction', 0.5, 'own', 'sampled'),
      ('lstm', 'reconstruction', 1.0, 'own', 'none', 'state'),
      ('lstm', 'none', 1.0, 'own', 'none', 'state'),
      *[('gru', auxiliary, 0.5, 'own', 'sampled', 'state')
        for auxiliary in registry.AUXILIARY])
  def test_train_step_changes_every_trainable_variable(
      self, backbone, auxiliary, feed_rate, embedding, unfed_input='none',
      head_input='h'):
    config = testing.TINY_CONFIG.replace(backbone=backbone,
                                         auxiliary=auxiliary,
                                         decoder_feed_rate=feed_rate,
                                         decoder_embedding=embedding,
                                         decoder_unfed_input=unfed_input,
                                         head_input=head_input)
    trainer = trainer_lib.Trainer(config, self.data)
    before = _weights(trainer)
    logs = trainer.train(trainer.train_iterator(), 1)
    self.assertEqual(trainer.step, 1)
    for variable, old in zip(trainer.model.trainable_variables, before):
      if variable.path.endswith('attention/key/bias'):
        # Adds the same q.b to every key's score of a query: softmax
        # cancels it, so its gradient is zero (as in any MHA) up to float
        # rounding, which Adam's normalised step scales to ~1e-6.
        self.assertAllClose(variable.numpy(), old, atol=1e-5)
        continue
      self.assertNotAllClose(variable.numpy(), old, msg=variable.path)
    for objective in registry.AUXILIARY[auxiliary]:
      self.assertIn(f'loss/{objective}', logs)
      self.assertIn(f'accuracy/{objective}', logs)

  @parameterized.parameters(
      # Each backbone once, each design on two (tests/models_test.py holds
      # every design to its NumPy reference for both cells).
      ('lstm', 'reconstruction', 'sum'), ('gru', 'both', 'shared'),
      ('memory_transformer', 'reconstruction', 'shared'),
      ('transformer', 'none', 'sum'))
  def test_channel_embeddings_train_every_variable(self, backbone, auxiliary,
                                                   design):
    """RGB tokens through each design, the r-decoder reading the main
    embedding (`decoder_embedding=shared`): every weight learns."""
    data = testing.tiny_data(channels=3)
    config = testing.TINY_CONFIG.replace(
        backbone=backbone, auxiliary=auxiliary, channel_embedding=design,
        decoder_embedding='shared')
    trainer = trainer_lib.Trainer(config, data)
    embedding = trainer.model.get_layer(
        'encoder').embedding if backbone in ('lstm', 'gru') else (
            trainer.model.embedding)
    self.assertEqual(embedding.shape[0], 1 if design == 'shared' else 3)
    before = _weights(trainer)
    trainer.train(trainer.train_iterator(), 1)
    for variable, old in zip(trainer.model.trainable_variables, before):
      if not variable.path.endswith('attention/key/bias'):  # As above.
        self.assertNotAllClose(variable.numpy(), old, msg=variable.path)

  @parameterized.parameters(('both', 'lstm', 1.0), ('both', 'gru', 0.5),
                            ('reconstruction', 'lstm', 0.5))
  def test_keras_decoder_layers_make_the_unroll_updates(self, auxiliary,
                                                        backbone, feed_rate):
    trainers = {rnn: trainer_lib.Trainer(testing.TINY_CONFIG.replace(
        auxiliary=auxiliary, backbone=backbone, decoder_feed_rate=feed_rate,
        decoder_rnn=rnn), self.data) for rnn in ('unroll', 'keras')}
    before = _weights(trainers['unroll'])
    for got, want in zip(_weights(trainers['keras']), before):
      self.assertAllEqual(got, want)  # The same seed: the same start.
    logs = {rnn: trainer.train(trainer.train_iterator(), 2)
            for rnn, trainer in trainers.items()}
    for name, value in logs['unroll'].items():
      self.assertAllClose(logs['keras'][name], value, atol=1e-5, msg=name)
    after = _weights(trainers['unroll'])
    for variable, got, want, old in zip(
        trainers['keras'].model.trainable_variables,
        _weights(trainers['keras']), after, before):
      self.assertAllClose(got, want, atol=1e-5, msg=variable.path)
      self.assertNotAllClose(got, old, msg=variable.path)

  def test_pretraining_updates_no_classifier_head_variable(self):
    config = testing.TINY_CONFIG.replace(auxiliary='both', pretrain_steps=1)
    trainer = trainer_lib.Trainer(config, self.data)
    self.assertTrue(trainer.pretraining)
    head = {v.path for v in trainer.model.head.trainable_variables}
    iterator = trainer.train_iterator()
    before = _weights(trainer)
    logs = trainer.train(iterator, 1)
    self.assertNotIn('loss/supervised', logs)
    for variable, old in zip(trainer.model.trainable_variables, before):
      if variable.path in head:
        self.assertAllEqual(variable.numpy(), old, msg=variable.path)
      else:
        self.assertNotAllClose(variable.numpy(), old, msg=variable.path)
    self.assertFalse(trainer.pretraining)
    before = _weights(trainer)
    logs = trainer.train(iterator, 1)
    self.assertIn('loss/supervised', logs)
    for variable, old in zip(trainer.model.trainable_variables, before):
      if variable.path.endswith('attention/key/bias'):
        # Adds the same q.b to every key's score of a query: softmax
        # cancels it, so its gradient is zero (as in any MHA) up to float
        # rounding, which Adam's normalised step scales to ~1e-6.
        self.assertAllClose(variable.numpy(), old, atol=1e-5)
        continue
      self.assertNotAllClose(variable.numpy(), old, msg=variable.path)

  def test_resumed_run_continues_in_the_right_phase(self):
    config = testing.TINY_CONFIG.replace(auxiliary='reconstruction',
                                         pretrain_steps=3)
    run = train_lib.Run.build(config, self.workdir, self.data)
    run.trainer.train(run.trainer.train_iterator(), 2)
    run.checkpoints.save()
    resumed = train_lib.Run.build(config, self.workdir, self.data)
    self.assertTrue(resumed.restore())
    self.assertEqual(resumed.step, 2)
    self.assertTrue(resumed.trainer.pretraining)
    resumed.trainer.train(resumed.trainer.train_iterator(), 1)
    self.assertFalse(resumed.trainer.pretraining)

  @parameterized.parameters('example', 'batch')
  def test_anchor_sharing_and_adam_epsilon_come_from_the_config(self, sharing):
    config = testing.TINY_CONFIG.replace(auxiliary='both', batch_size=16,
                                         anchor_sharing=sharing,
                                         adam_epsilon=1e-8)
    trainer = trainer_lib.Trainer(config, self.data)
    self.assertEqual(trainer.optimizer.epsilon, 1e-8)
    for drawn, _ in trainer.sample_anchors(tf.fill([16], 8)).values():
      rows_alike = (drawn.numpy() == drawn.numpy()[:1]).all()
      self.assertEqual(rows_alike, sharing == 'batch')

  def test_loss_falls_on_learnable_data(self):
    config = testing.TINY_CONFIG.replace(batch_size=16)
    trainer = trainer_lib.Trainer(config, self.data)
    iterator = trainer.train_iterator()
    first = trainer.train(iterator, 10)['loss/supervised']
    trainer.train(iterator, 130)
    last = trainer.train(iterator, 10)['loss/supervised']
    self.assertLess(last, 0.5 * first)

  def test_mirrored_step_equals_single_device_step(self):
    mirrored = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
    self.assertEqual(mirrored.num_replicas_in_sync, 2)
    batch = testing.tiny_split(4, seed=3)
    single = trainer_lib.Trainer(testing.TINY_CONFIG, self.data)
    replicated = trainer_lib.Trainer(testing.TINY_CONFIG, self.data,
                                     strategy=mirrored)
    for source, target in zip(single.model.trainable_variables,
                              replicated.model.trainable_variables):
      target.assign(source)
    single_logs = single.train(_one_batch_iterator(single, batch), 1)
    replicated_logs = replicated.train(_one_batch_iterator(replicated, batch),
                                       1)
    for name in ('loss/supervised', 'accuracy', 'grad_norm'):
      self.assertAllClose(single_logs[name], replicated_logs[name], atol=1e-5)
    for got, want in zip(_weights(replicated), _weights(single)):
      self.assertAllClose(got, want, atol=1e-5)

  def test_batch_size_must_divide_across_replicas(self):
    mirrored = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
    with self.assertRaisesRegex(errors.UsageError, 'not divisible'):
      trainer_lib.Trainer(testing.TINY_CONFIG.replace(batch_size=3),
                          self.data, strategy=mirrored)

  def test_evaluate_scores_every_example(self):
    model = trainer_lib.Trainer(testing.TINY_CONFIG, self.data).model
    results = evaluator_lib.Evaluator(
        model, self.data, batch_size=10, seed=0).evaluate()  # 37 examples.
    test = self.data.test
    logits = model(test.tokens, test.lengths).numpy()
    self.assertEqual(results['examples'], len(test))
    self.assertAllClose(results['accuracy'],
                        np.mean(logits.argmax(-1) == test.labels))

  def test_train_and_evaluate_writes_outputs_and_resumes(self):
    npz = os.path.join(self.create_tempdir().full_path, 'tiny.npz')
    testing.write_tiny_npz(npz)
    config = testing.TINY_CONFIG.replace(dataset=f'npz:{npz}')
    train_lib.train_and_evaluate(config, self.workdir)
    run = train_lib.load_run(config.replace(train_steps=6), self.workdir)
    self.assertTrue(run.restore())
    self.assertEqual(run.step, 4)
    self.assertTrue(os.path.isfile(
        os.path.join(self.workdir, train_lib.CONFIG_FILE)))
    with open(os.path.join(self.workdir, 'metrics.jsonl')) as f:
      rows = [line for line in f if '"split": "test"' in line]
    self.assertLen(rows, 2)  # Evaluated at steps 2 and 4.
    restored = _weights(run)
    train_lib.train_and_evaluate(config.replace(train_steps=6), self.workdir)
    run = train_lib.load_run(config, self.workdir)
    run.restore()
    self.assertEqual(run.step, 6)
    self.assertNotAllClose(_weights(run)[0], restored[0])

  def test_segment_images_for_image_data(self):
    npz = os.path.join(self.create_tempdir().full_path, 'tiny.npz')
    testing.write_tiny_npz(npz, side=4)
    config = testing.TINY_CONFIG.replace(dataset=f'npz:{npz}',
                                         auxiliary='both')
    run = train_lib.load_run(config, self.workdir)
    images = run.evaluator.segment_images(num_examples=3)
    self.assertEqual(set(images), {'segments/reconstruction',
                                   'segments/prediction'})
    scale = summaries.SEGMENT_IMAGE_HEIGHT // 4
    for batch in images.values():
      self.assertEqual(batch.shape, (3, 4 * scale, 9 * scale, 3))
      # The left half is the original image, enlarged.
      self.assertAllEqual(batch[:, ::scale, :4 * scale:scale, 0],
                          run.data.test.tokens[:3, :, 0].reshape(3, 4, 4))
    text_like = train_lib.Run.build(config, self.workdir, self.data)
    self.assertEqual(text_like.evaluator.segment_images(), {})

  def test_resumed_data_order_continues_the_stream(self):
    split = self.data.train
    stream = input_pipeline.train_dataset(split, 4, seed=7)
    resumed = input_pipeline.train_dataset(split, 4, seed=7, skip_batches=9)
    want = [b[0].numpy() for b in stream.take(12)][9:]
    got = [b[0].numpy() for b in resumed.take(3)]
    self.assertAllEqual(got, want)


if __name__ == '__main__':
  tf.test.main()
