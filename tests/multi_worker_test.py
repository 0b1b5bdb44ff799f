"""`--strategy=multi_worker`: two worker processes on 127.0.0.1.

They must compute the update that one process computes with two replicas
(the same global batch, split the same way, and the same anchors: the
anchor seed folds in the replica number), only the chief may write in the
workdir, a job whose worker is killed must resume from the chief's last
checkpoint when every worker is relaunched, and a stop signal to the chief
saves a checkpoint there.
"""

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import tensorflow as tf

from r_lstm import cli, summaries
from tests import testing

# A tiny r-LSTM (anchors, a decoder, the supervised window) on 36-step
# sequences; long enough a run that a worker can be killed mid-way.
SETTINGS = dict(auxiliary='reconstruction', lstm_units=8, embed_dim=8,
                head_units=(8,), decoder_units=8, decoder_head_units=(8,),
                aux_length=8, aux_bptt=8, bptt=10, batch_size=8, train_steps=120,
                eval_every=40, checkpoint_every=4, steps_per_loop=2,
                eval_batch_size=16, max_checkpoints=2)
START_TIMEOUT = 300  # Seconds a launch may take (TensorFlow's import, tracing).

# Trains with two replicas in one process: two logical CPU devices under
# `MirroredStrategy`, which must be set up before TensorFlow runs an op.
ONE_PROCESS = '''
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from r_lstm import configs, train_lib
config = configs.Config.from_json(sys.argv[1])
train_lib.train_and_evaluate(
    config, sys.argv[2],
    strategy=tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1']))
'''


def free_ports(count: int):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def flags_of(settings):
  return [f'--{name}=' + (','.join(map(str, value))
                          if isinstance(value, tuple) else str(value))
          for name, value in settings.items()]


class Cluster:
  """Two `python -m r_lstm.train --strategy=multi_worker` processes."""

  def __init__(self, workdir: str, dataset: str, scratch: str):
    self.workdir = workdir
    self.dataset = dataset
    self.scratch = scratch  # The workers' TMPDIR.
    self.processes = []
    self.logs = []

  def launch(self):
    ports = free_ports(2)
    cluster = {'worker': [f'127.0.0.1:{port}' for port in ports]}
    self.processes, self.logs = [], []
    for index in range(2):
      env = dict(os.environ, TMPDIR=self.scratch, TF_CPP_MIN_LOG_LEVEL='3',
                 PYTHONPATH=testing.REPO,
                 TF_CONFIG=json.dumps({'cluster': cluster, 'task': {
                     'type': 'worker', 'index': index}}))
      log = tempfile.TemporaryFile('w+')
      self.logs.append(log)
      self.processes.append(subprocess.Popen(
          [sys.executable, '-m', 'r_lstm.train', f'--workdir={self.workdir}',
           f'--dataset=npz:{self.dataset}', '--strategy=multi_worker',
           *flags_of(SETTINGS)],
          stdout=log, stderr=subprocess.STDOUT, env=env,
          cwd=testing.REPO))

  def wait(self, timeout=START_TIMEOUT):
    """Exit codes and outputs of both workers."""
    codes = []
    for process in self.processes:
      try:
        codes.append(process.wait(timeout))
      except subprocess.TimeoutExpired:
        self.kill()
        raise
    outputs = []
    for log in self.logs:
      log.seek(0)
      outputs.append(log.read())
      log.close()
    return codes, outputs

  def kill(self):
    for process in self.processes:
      if process.poll() is None:
        process.kill()


def final_variables(workdir: str):
  """name -> value of every variable in the workdir's newest checkpoint."""
  reader = tf.train.load_checkpoint(os.path.join(workdir, 'checkpoints'))
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if not name.startswith('save_counter')
          and '.ATTRIBUTES/VARIABLE_VALUE' in name}


def computed_rows(workdir: str):
  with open(os.path.join(workdir, summaries.METRICS_FILE)) as f:
    rows = [json.loads(line) for line in f]
  return [{k: v for k, v in row.items() if k != 'steps_per_sec'}
          for row in rows if row['split'] not in (summaries.HOST_SPLIT,)]


class MultiWorkerTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp()
    cls.dataset = os.path.join(cls.root, 'data.npz')
    testing.write_tiny_npz(cls.dataset, num_train=64, num_test=32, side=6)
    cls.scratch = os.path.join(cls.root, 'tmp')
    os.makedirs(cls.scratch)
    cls.workdir = os.path.join(cls.root, 'two_workers')
    cluster = Cluster(cls.workdir, cls.dataset, cls.scratch)
    cluster.launch()
    cls.codes, cls.outputs = cluster.wait()

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  def test_both_workers_finish(self):
    self.assertEqual(self.codes, [0, 0], msg=self.outputs)
    for output in self.outputs:
      self.assertIn('after 120 updates', output)

  def test_two_workers_make_the_updates_of_two_replicas_in_one_process(self):
    from r_lstm import presets
    config = presets.preset('default').replace(
        dataset=f'npz:{self.dataset}', **SETTINGS)
    workdir = os.path.join(self.root, 'one_process')
    subprocess.run([sys.executable, '-c', ONE_PROCESS, config.to_json(),
                    workdir], check=True, capture_output=True,
                   cwd=testing.REPO, timeout=START_TIMEOUT,
                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3',
                            PYTHONPATH=testing.REPO))
    want, got = final_variables(workdir), final_variables(self.workdir)
    self.assertEqual(sorted(got), sorted(want))
    self.assertGreater(len(want), 10)
    for name, value in want.items():
      self.assertAllClose(got[name], value, rtol=1e-5, atol=1e-6, msg=name)
    expected, actual = computed_rows(workdir), computed_rows(self.workdir)
    self.assertEqual([(r['step'], r['split']) for r in actual],
                     [(r['step'], r['split']) for r in expected])
    for got_row, want_row in zip(actual, expected):
      for key, value in want_row.items():
        if isinstance(value, float):
          self.assertAllClose(got_row[key], value, rtol=1e-5, atol=1e-6)

  def test_only_the_chief_writes_in_the_workdir(self):
    for directory in ('', 'train', 'eval'):
      events = glob.glob(os.path.join(self.workdir, directory,
                                      'events.out.tfevents.*'))
      self.assertLen(events, 1, msg=directory or 'workdir')
    steps = [(r['step'], r['split']) for r in computed_rows(self.workdir)]
    self.assertEqual(len(steps), len(set(steps)))  # No row twice.
    # The other worker's scratch directory is gone.
    self.assertEqual([name for name in os.listdir(self.scratch)
                      if name.startswith('r_lstm_worker_')], [])

  def launch_until_checkpoint(self, name: str):
    """A new cluster on workdir `name`, running past its checkpoint at
    update 8. Its workers' TMPDIR is a directory of its own: a killed
    worker leaves its scratch directory behind."""
    workdir = os.path.join(self.root, name)
    scratch = os.path.join(self.root, f'{name}_tmp')
    os.makedirs(scratch)
    cluster = Cluster(workdir, self.dataset, scratch)
    cluster.launch()
    checkpoint = os.path.join(workdir, 'checkpoints', 'ckpt-8.index')
    deadline = time.time() + START_TIMEOUT
    while not os.path.exists(checkpoint) and time.time() < deadline:
      self.assertIsNone(cluster.processes[0].poll(),
                        msg='the run ended before update 8 was saved')
      time.sleep(0.05)
    return workdir, cluster

  def test_sigterm_to_the_chief_saves_and_the_other_worker_ends(self):
    workdir, cluster = self.launch_until_checkpoint('terminated')
    cluster.processes[0].send_signal(signal.SIGTERM)
    codes, outputs = cluster.wait()
    self.assertEqual(codes, [cli.INTERRUPTED_EXIT_BASE + signal.SIGTERM,
                             cli.PEER_LOST_EXIT_CODE], msg=outputs)
    # The signal may land just after the loop saved this very update.
    saved = re.search(r'stopped by SIGTERM at update (\d+); (?:saved|its '
                      r'checkpoint is) (\S+)\.', outputs[0])
    self.assertIsNotNone(saved, msg=outputs[0])
    self.assertTrue(saved.group(2).startswith(workdir))
    self.assertIn(f'resumes from {saved.group(2)}', outputs[1])
    for output in outputs:
      self.assertNotIn('Traceback', output)

  def test_a_killed_worker_job_resumes_where_the_chief_saved(self):
    workdir, cluster = self.launch_until_checkpoint('killed')
    cluster.processes[1].send_signal(signal.SIGKILL)
    codes, outputs = cluster.wait()
    self.assertEqual(codes[0], cli.PEER_LOST_EXIT_CODE, msg=outputs[0])
    self.assertIn('a worker of the cluster stopped answering', outputs[0])
    self.assertIn('relaunching every worker with the same command resumes '
                  'from', outputs[0])
    self.assertNotIn('Traceback', outputs[0])

    cluster.launch()
    codes, outputs = cluster.wait()
    self.assertEqual(codes, [0, 0], msg=outputs)
    for output in outputs:
      self.assertRegex(output, r'Resumed from \S+ckpt-\d+ at step \d+')
    want, got = final_variables(self.workdir), final_variables(workdir)
    for name, value in want.items():
      self.assertAllClose(got[name], value, rtol=1e-5, atol=1e-6, msg=name)


if __name__ == '__main__':
  tf.test.main()
