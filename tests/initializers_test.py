"""Each initialization scheme's weights have the documented distributions."""

import json
import math

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from r_lstm import configs, encoders, heads, initializers, models
from r_lstm import cells, config_migration, config_rules, presets
from r_lstm import train_lib
from r_lstm.errors import UsageError
from r_lstm.objectives import base, reconstruction
from tests import testing

IN, UNITS, VOCAB, EMBED = 96, 128, 256, 64


def uniform_variance(limit):
  return limit ** 2 / 3


class DistributionAssertions(tf.test.TestCase):
  """Bounds exact; moments within 4 standard errors of the estimate."""

  def assertUniform(self, values, limit):
    values = np.asarray(values).ravel()
    n = values.size
    self.assertLessEqual(np.abs(values).max(), limit)
    # Nearly reaches both ends, so the bound is not loose.
    self.assertGreater(values.max(), 0.9 * limit)
    self.assertLess(values.min(), -0.9 * limit)
    self.assertAllClose(values.mean(), 0.0,
                        atol=4 * limit / math.sqrt(3 * n))
    # A uniform's sample variance has relative sd sqrt(0.8 / n).
    self.assertAllClose(values.var(), uniform_variance(limit),
                        rtol=4 * math.sqrt(0.8 / n))

  def assertForgetBiasOne(self, bias, units):
    want = np.zeros(4 * units)
    want[units:2 * units] = 1.0
    self.assertAllEqual(np.asarray(bias), want)


class LSTMCellTest(DistributionAssertions, parameterized.TestCase):

  def cell(self, scheme):
    keras.utils.set_random_seed(0)
    return cells.LSTMCell(IN, UNITS,
                           initializers.Initialization.from_scheme(scheme))

  def test_keras(self):
    cell = self.cell('keras')
    self.assertUniform(cell.kernel, math.sqrt(6 / (IN + 4 * UNITS)))
    # Orthogonal (u, 4u): orthonormal rows.
    recurrent = np.asarray(cell.recurrent_kernel)
    self.assertAllClose(recurrent @ recurrent.T, np.eye(UNITS), atol=1e-4)
    self.assertForgetBiasOne(cell.bias, UNITS)

  def test_torch(self):
    cell = self.cell('torch')
    limit = 1 / math.sqrt(UNITS)
    self.assertUniform(cell.kernel, limit)
    self.assertUniform(cell.recurrent_kernel, limit)
    # b_ih + b_hh: twice a uniform's variance, and past one uniform's bound.
    bias = np.asarray(cell.bias)
    self.assertLessEqual(np.abs(bias).max(), 2 * limit)
    self.assertGreater(np.abs(bias).max(), 1.2 * limit)
    self.assertAllClose(bias.var(), 2 * uniform_variance(limit), rtol=0.2)

  def test_tf1_glorot_over_the_joint_kernel(self):
    cell = self.cell('tf1')
    limit = math.sqrt(6 / (IN + UNITS + 4 * UNITS))
    self.assertUniform(cell.kernel, limit)
    self.assertUniform(cell.recurrent_kernel, limit)
    self.assertForgetBiasOne(cell.bias, UNITS)

  @parameterized.parameters('torch', 'tf1')
  def test_keras_bias_with_another_schemes_weights(self, scheme):
    keras.utils.set_random_seed(0)
    cell = cells.LSTMCell(IN, UNITS, initializers.Initialization.from_scheme(
        scheme, lstm_bias='keras'))
    self.assertForgetBiasOne(cell.bias, UNITS)
    self.assertUniform(cell.recurrent_kernel,
                       np.abs(np.asarray(cell.kernel)).max())

  def test_every_weight_drawn_afresh(self):
    """Keras seeds an initializer when it is made: two weights must not
    share one."""
    cell = self.cell('torch')
    self.assertNotAllClose(cell.kernel[:UNITS], cell.recurrent_kernel)


class GRUCellTest(DistributionAssertions):

  def cell(self, scheme):
    keras.utils.set_random_seed(0)
    return cells.GRUCell(IN, UNITS,
                          initializers.Initialization.from_scheme(scheme))

  def test_keras(self):
    cell = self.cell('keras')
    self.assertUniform(cell.kernel, math.sqrt(6 / (IN + 3 * UNITS)))
    recurrent = np.asarray(cell.recurrent_kernel)
    self.assertAllClose(recurrent @ recurrent.T, np.eye(UNITS), atol=1e-4)
    self.assertAllEqual(cell.bias, np.zeros([2, 3 * UNITS]))

  def test_torch_each_bias_its_own_uniform(self):
    cell = self.cell('torch')
    limit = 1 / math.sqrt(UNITS)
    self.assertUniform(cell.kernel, limit)
    self.assertUniform(cell.recurrent_kernel, limit)
    for row in np.asarray(cell.bias):  # b_ih, b_hh
      self.assertUniform(row, limit)

  def test_tf1_gates_and_candidate_kernels_and_gate_bias_one(self):
    cell = self.cell('tf1')
    for weight in (cell.kernel, cell.recurrent_kernel):
      weight = np.asarray(weight)
      self.assertUniform(weight[:, :2 * UNITS],
                         math.sqrt(6 / (IN + UNITS + 2 * UNITS)))
      self.assertUniform(weight[:, 2 * UNITS:],
                         math.sqrt(6 / (IN + UNITS + UNITS)))
    want = np.zeros([2, 3 * UNITS])
    want[0, :2 * UNITS] = 1.0
    self.assertAllEqual(cell.bias, want)


class EmbeddingAndDenseTest(DistributionAssertions, parameterized.TestCase):

  @parameterized.parameters(
      ('keras', 0.05), ('tf1', math.sqrt(6 / (VOCAB + EMBED))))
  def test_uniform_embeddings(self, scheme, limit):
    keras.utils.set_random_seed(0)
    encoder = encoders.TokenLSTM(
        VOCAB, 3, EMBED, 8,
        initialization=initializers.Initialization.from_scheme(scheme))
    self.assertUniform(encoder.embedding, limit)

  def test_torch_embedding_standard_normal(self):
    keras.utils.set_random_seed(0)
    encoder = encoders.TokenLSTM(
        VOCAB, 1, EMBED, 8,
        initialization=initializers.Initialization.from_scheme('torch'))
    values = np.asarray(encoder.embedding).ravel()
    self.assertAllClose(values.mean(), 0.0, atol=0.02)
    self.assertAllClose(values.std(), 1.0, rtol=0.03)
    self.assertGreater(np.abs(values).max(), 3.0)  # Not bounded: a normal.

  @parameterized.parameters('keras', 'tf1')
  def test_glorot_dense_zero_bias(self, scheme):
    keras.utils.set_random_seed(0)
    head = heads.feed_forward(
        (256,), 10, 128, 'head',
        initializers.Initialization.from_scheme(scheme))
    hidden, logits = head.layers
    self.assertUniform(hidden.kernel, math.sqrt(6 / (128 + 256)))
    self.assertUniform(logits.kernel, math.sqrt(6 / (256 + 10)))
    for layer in head.layers:
      self.assertAllEqual(layer.bias, np.zeros(layer.bias.shape))

  def test_torch_dense_uniform_by_fan_in(self):
    keras.utils.set_random_seed(0)
    head = heads.feed_forward(
        (256,), 64, 128, 'head',
        initializers.Initialization.from_scheme('torch'))
    hidden, logits = head.layers
    self.assertUniform(hidden.kernel, 1 / math.sqrt(128))
    self.assertUniform(logits.kernel, 1 / math.sqrt(256))
    self.assertUniform(hidden.bias, 1 / math.sqrt(128))

  def test_torch_decoder_start_maps(self):
    keras.utils.set_random_seed(0)
    decoder = reconstruction.ReconstructionDecoder(
        VOCAB, 1, EMBED, 128, 256, 2, (256,),
        initialization=initializers.Initialization.from_scheme('torch'))
    for dense in decoder.init_maps:
      self.assertUniform(dense.kernel, 1 / math.sqrt(128))
      self.assertUniform(dense.bias, 1 / math.sqrt(128))


class SchemeReachesEveryLayerTest(tf.test.TestCase):

  def test_torch_leaves_no_keras_weight(self):
    """Under torch every bias is random and no weight keeps a Keras
    bound: the scheme reaches the encoder, both decoders and all heads."""
    keras.utils.set_random_seed(0)
    model = models.SequenceClassifier(
        num_classes=10, embed_dim=16, lstm_units=16, head_units=(32,),
        auxiliary=('reconstruction', 'prediction'),
        decoder=base.DecoderOptions(aux_length=4, decoder_units=32,
                                    decoder_head_units=(32,)),
        initialization=initializers.Initialization.from_scheme('torch'))
    for variable in model.weights:
      values = np.asarray(variable)
      if variable.path.endswith('bias'):
        self.assertGreater(np.unique(values).size, values.size // 2,
                           variable.path)
      if variable.path.endswith('embedding'):
        self.assertGreater(values.std(), 0.5, variable.path)

  def test_torch_is_the_default_of_runs_and_keras_of_layers(self):
    self.assertEqual(initializers.Initialization.from_config(configs.Config()).parts, ('torch',) * 4)
    for name, preset in presets.PRESETS.items():
      self.assertEqual(preset.init, 'keras' if name == 'demo' else 'torch',
                       msg=name)
    self.assertEqual(initializers.KERAS.parts, ('keras',) * 4)


class ConfigTest(tf.test.TestCase, parameterized.TestCase):

  def test_parts_follow_init_unless_set(self):
    config = configs.Config(init='torch', init_embedding='keras')
    self.assertEqual(
        initializers.Initialization.from_config(config),
        initializers.Initialization(embedding='keras', lstm_weights='torch',
                                    lstm_bias='torch', dense='torch'))

  def test_configs_saved_before_init_existed_load_as_keras(self):
    fields = json.loads(configs.Config().to_json())
    for name in ('init', *configs.INIT_PART_FIELDS):
      del fields[name]
    config = configs.Config.from_json(json.dumps(fields))
    self.assertEqual(config.init, 'keras')
    self.assertEqual(initializers.Initialization.from_config(config),
                     initializers.KERAS)

  def test_the_original_command_still_resumes_a_keras_run(self):
    saved = presets.preset('default').replace(init='keras', head_input='h')
    command = presets.preset('default')
    resumed = config_migration.follow_saved_defaults(command, saved)
    self.assertEqual(config_rules.differences(saved, resumed), ())
    # A value the command itself sets is kept (and then conflicts).
    self.assertEqual(config_migration.follow_saved_defaults(
        command.replace(init='tf1'), saved).init, 'tf1')

  @parameterized.parameters(('init', 'jax'), ('init_dense', 'glorot'))
  def test_unknown_scheme_names_the_field(self, field, value):
    with self.assertRaisesRegex(UsageError, f"for {field};") as raised:
      config_rules.validate(configs.Config(**{field: value}))
    self.assertIn(f'for --{field};', raised.exception.as_flags())

  def test_checkpoint_of_a_keras_run_restores_into_a_torch_model(self):
    """Schemes change starting values, never shapes or names: a run made
    before --init existed resumes with its own weights."""
    data = testing.tiny_data()
    workdir = self.create_tempdir().full_path
    keras_config = testing.TINY_CONFIG.replace(auxiliary='reconstruction')
    old = train_lib.Run.build(keras_config, workdir, data)
    old.checkpoints.save()
    new = train_lib.Run.build(keras_config.replace(init='torch'), workdir,
                              data)
    self.assertTrue(new.restore())
    for saved, restored in zip(old.model.weights, new.model.weights):
      self.assertAllEqual(saved, restored)


if __name__ == '__main__':
  tf.test.main()
