"""A whole tiny run on a TensorFlow filesystem: train, resume, evaluate,
export, predict and report with every path on `ram://`.

`ram://` is TensorFlow's in-memory filesystem, the stand-in for `gs://`
here (no network): like an object store it has no `flock`, no directory
rename and no file times, and it is reachable only through TensorFlow. It
lives in one process, so each program below runs its tools as the Python
API in a process of its own (`predict` and `report` define flags of the same
name, so they get one each) and prints what the test checks as JSON.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import tensorflow as tf

from tests import testing

TRAIN = '''
import json, sys
import numpy as np
from r_lstm import configs, train_lib
config = configs.Config.from_json(sys.argv[1])
run_dir = 'ram://bucket/runs/tiny'
train_lib.train_and_evaluate(config.replace(train_steps=2), run_dir)
'''

TRAIN_EXPORT_PREDICT = TRAIN + '''
from r_lstm import evaluate, export_lib, files, input_pipeline, locks, predict
from r_lstm import workdir as workdir_lib
final = train_lib.train_and_evaluate(config, run_dir)
_, evaluated = evaluate.evaluate_workdir(run_dir)
export_dir = 'ram://bucket/exports/tiny'
export_lib.export_workdir(run_dir, export_dir)
scorers = {}
for model in (export_dir, run_dir):
  model_config, channels, scorer, raw_scorer, _, _ = predict.load_scorer(model)
  data = input_pipeline.load(model_config)
  scorers[model] = predict.predict(scorer, data.test, 4)
images = np.random.RandomState(0).randint(0, 256, (3, 4, 4), np.uint8)
with files.open_binary('ram://bucket/inputs/images.npy', 'wb') as f:
  np.save(f, images)
names, scored = predict.score_inputs(model_config, channels, raw_scorer,
                                     ['ram://bucket/inputs/*.npy'], 4)
predictions = 'ram://bucket/predictions/tiny.csv'
files.makedirs(files.parent(predictions))
workdir_lib.check_output_file(predictions, 'output')
predict.write_predictions(predictions, predict.to_csv(scored, names, 'input'))
print(json.dumps({
    'final': final, 'evaluated': evaluated,
    'run_files': sorted(files.listdir(run_dir)),
    'checkpoints': sorted(files.listdir(run_dir + '/checkpoints')),
    'metrics_steps': [json.loads(line)['step']
                      for line in files.read_lines(run_dir + '/metrics.jsonl')],
    'export_files': sorted(files.listdir(export_dir)),
    'export_vs_workdir': float(np.abs(
        scorers[export_dir] - scorers[run_dir]).max()),
    'predictions': files.read_lines(predictions),
    'holder': locks.holder(run_dir),
}))
'''

TRAIN_REPORT = TRAIN + '''
from r_lstm import files, report
runs = report.write_report([run_dir], 'ram://bucket/reports/tiny.md')
print(json.dumps({
    'curve': {str(step): value for step, value in runs[0].curve.items()},
    'report': files.read_text('ram://bucket/reports/tiny.md'),
    'plot_bytes': len(files.read_text('ram://bucket/reports/tiny_curves.png')),
}))
'''


class RamWorkdirTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.scratch = tempfile.mkdtemp()
    cls.npz = os.path.join(cls.scratch, 'tiny.npz')
    testing.write_tiny_npz(cls.npz)
    cls.config = testing.TINY_CONFIG.replace(
        dataset=f'npz:{cls.npz}', train_steps=4)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.scratch)
    super().tearDownClass()

  def run_program(self, program):
    result = subprocess.run(
        [sys.executable, '-c', program, self.config.to_json()],
        capture_output=True, text=True, cwd=testing.REPO,
        env=testing.quiet_environment())
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    return result.stdout, json.loads(result.stdout.splitlines()[-1])

  def test_train_resume_evaluate_export_and_predict(self):
    stdout, seen = self.run_program(TRAIN_EXPORT_PREDICT)
    self.assertIn('Resumed from ram://bucket/runs/tiny/checkpoints/ckpt-2 at '
                  'step 2.', stdout)
    self.assertEqual(seen['evaluated'], seen['final'])
    self.assertContainsSubset(['config.json', 'metrics.jsonl', 'checkpoints',
                               'train', 'eval'], seen['run_files'])
    self.assertNotIn('.lock', seen['run_files'])  # Released at the end.
    self.assertIsNone(seen['holder'])
    self.assertContainsSubset(['ckpt-2.index', 'ckpt-4.index', 'checkpoint'],
                              seen['checkpoints'])
    self.assertEqual(max(seen['metrics_steps']), 4)
    self.assertContainsSubset(['saved_model.pb', 'variables', 'model.keras',
                               'config.json'], seen['export_files'])
    self.assertLess(seen['export_vs_workdir'], 1e-5)
    self.assertLen(seen['predictions'], 4)  # A header and three images.
    self.assertStartsWith(seen['predictions'][1],
                          '0,"ram://bucket/inputs/images.npy:0",')

  def test_report(self):
    _, seen = self.run_program(TRAIN_REPORT)
    self.assertEqual(list(seen['curve']), ['2'])
    self.assertIn('| tiny |', seen['report'])
    self.assertGreater(seen['plot_bytes'], 1000)

  def test_the_command_line_trains_in_a_url_workdir(self):
    result = testing.run_module(
        'r_lstm.train', '--workdir=ram://bucket/cli', f'--dataset=npz:{self.npz}',
        *testing.TINY_FLAGS, '--train_steps=2')
    self.assertEqual(result.returncode, 0, msg=result.stderr[-3000:])
    self.assertIn('Final test accuracy', result.stdout)


if __name__ == '__main__':
  tf.test.main()
