"""Training on several replicas: strategy choice, chief-only writing, and the global-batch semantics
(two replicas of half the batch each take the same step as one device with the whole batch)."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import types

import pytest
import tensorflow as tf

from jointvae_tf.core import distribute
from jointvae_tf.core.config import TrainConfig
from jointvae_tf.errors import JointVAEError


def test_none_is_the_default_single_device_strategy():
    strategy = distribute.make_strategy("none")
    assert strategy is tf.distribute.get_strategy()
    assert distribute.num_replicas() == 1
    assert distribute.is_chief(strategy)


def test_unknown_strategy_and_missing_tf_config_are_clear_errors(monkeypatch):
    with pytest.raises(JointVAEError, match="^distribute: expected one of none"):
        TrainConfig(distribute="horovod")
    with pytest.raises(JointVAEError, match="^kind: expected one of none"):
        distribute.make_strategy("horovod")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(JointVAEError, match="^train.distribute: multiworker needs TF_CONFIG"):
        distribute.make_strategy("multiworker")


@pytest.mark.parametrize("cluster, task, chief", [
    ({"worker": ["a:1", "b:1"]}, ("worker", 0), True),
    ({"worker": ["a:1", "b:1"]}, ("worker", 1), False),
    ({"chief": ["c:1"], "worker": ["a:1"]}, ("chief", 0), True),
    ({"chief": ["c:1"], "worker": ["a:1"]}, ("worker", 0), False),
])
def test_only_the_chief_writes(monkeypatch, cluster, task, chief):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": task[0], "index": task[1]}}))
    strategy = types.SimpleNamespace(cluster_resolver=types.SimpleNamespace(task_type=task[0], task_id=task[1]))
    assert distribute.is_chief(strategy) is chief


# Runs in its own process: the two logical CPU devices must be configured before TensorFlow starts.
TWO_REPLICAS = r"""
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from jointvae_tf.core import latents
from jointvae_tf.run_folders.checkpoints import Checkpointer
from jointvae_tf.core.config import LatentSpec, ModelConfig
from jointvae_tf.core.model import JointVAE

sampled = latents.sample_latent
def deterministic(encoding, temperature, seed):
    # The noise of a batch split in two differs from the noise of the whole batch: take it out.
    return tf.concat([encoding.mean] + [tf.nn.softmax(lg / temperature) for lg in encoding.logits], -1)

config = ModelConfig(latent=LatentSpec(3, (4,)), hidden_units=32)
images = np.random.default_rng(0).random((16, 32, 32, 1)).astype("float32")

def train(strategy, steps, optimizer):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = JointVAE(config, seed=0)
        model.compile(optimizer=optimizer())
        model.build_all()
        before = [v.numpy() for v in model.trainable_variables]
    data = tf.data.Dataset.from_tensor_slices(images).batch(16).repeat()
    history = model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0).history
    deltas = [float(np.abs(v.numpy() - b).sum()) for v, b in zip(model.trainable_variables, before)]
    return model, deltas, history["loss"][-1]

one = tf.distribute.get_strategy()
two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
latents.sample_latent = deterministic
sgd = lambda: keras.optimizers.SGD(0.01)
_, deltas_one, _ = train(one, 1, sgd)
mirrored, deltas_two, _ = train(two, 1, sgd)
path = Checkpointer(sys.argv[1], mirrored).save(1)
restored = JointVAE(config, seed=0)
restored.compile(optimizer=keras.optimizers.SGD(0.01))
restored.build_all()
Checkpointer(sys.argv[1], restored).restore_latest(require=True)
max_restore_error = max(float(np.abs(a.numpy() - b.numpy()).max())
                        for a, b in zip(restored.trainable_variables, mirrored.trainable_variables))
latents.sample_latent = sampled
from jointvae_tf.core import distribute
per_replica = two.run(lambda: distribute.replica_seed(tf.constant([1, 2])))
replica_seeds = [s.numpy().tolist() for s in two.experimental_local_results(per_replica)]
adam = lambda: keras.optimizers.Adam(5e-4)
_, _, loss_one = train(one, 3, adam)
_, _, loss_two = train(two, 3, adam)
print(json.dumps({"replicas": two.num_replicas_in_sync, "deltas_one": deltas_one, "deltas_two": deltas_two,
                  "max_restore_error": max_restore_error, "loss_one": loss_one, "loss_two": loss_two,
                  "replica_seeds": replica_seeds}))
"""


@pytest.mark.slow
def test_two_replicas_take_the_same_step_as_one_device(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", TWO_REPLICAS, str(tmp_path)], capture_output=True, text=True,
                            env=env, timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    # SGD moves each variable by lr * gradient: summed per-replica gradients of loss / 2 equal the
    # gradient of the global-batch mean (a missing 1/2 would double every step).
    assert out["deltas_two"] == pytest.approx(out["deltas_one"], rel=1e-3, abs=1e-7)
    # A checkpoint written under the strategy (MirroredVariables) restores into a one-device model.
    assert out["max_restore_error"] == 0.0
    # With the real sampling noise, training losses agree within the noise.
    assert out["loss_two"] == pytest.approx(out["loss_one"], rel=0.02)
    # Each replica folds its index into the shared seed, so the two halves of a batch get their own noise.
    first, second = out["replica_seeds"]
    assert first != second


WORKER = r"""
import sys
from jointvae_tf.training.presets import build_run_config
from jointvae_tf.training.trainer import train
run = build_run_config("four_shapes", {"data.max_examples": 128, "train.epochs": 1, "train.batch_size": 32,
                                       "model.latent.cont": 2, "model.latent.disc": (4,), "train.checkpoint_every": 2,
                                       "train.distribute": "multiworker"})
print("STEP", train(run, sys.argv[1], verbose=0).step)
"""


@contextlib.contextmanager
def _reserved_ports(count):
    """``count`` free ports, kept bound (with SO_REUSEPORT, never listening) until the block ends, so that no
    other program can take one between its choice and the binding by TensorFlow's gRPC server, which
    ``TF_GRPC_REUSE_PORT=1`` lets share the port. A bound socket that does not listen receives no connection."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            held = stack.enter_context(socket.socket())
            held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            held.bind(("", 0))
            ports.append(held.getsockname()[1])
        yield ports


@pytest.mark.slow
def test_two_workers_train_in_step_into_one_run_folder(tmp_path):
    with _reserved_ports(2) as ports:
        workers = [f"localhost:{port}" for port in ports]
        processes = []
        for index in range(2):
            tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
            env = {**os.environ, "TF_CONFIG": tf_config, "TF_GRPC_REUSE_PORT": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
                   "CUDA_VISIBLE_DEVICES": ""}
            processes.append(subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / "run")], env=env,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path))
        outputs = [p.communicate(timeout=240) for p in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    steps = [int(stdout.split("STEP")[-1]) for stdout, _ in outputs]
    assert steps == [128 // 32, 128 // 32]
    written = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert written == ["ckpt-000000002.npz", "ckpt-000000004.npz"]
    # Only the chief's TensorBoard events land in the run folder; the other worker logs to a temporary one.
    assert len(list((tmp_path / "run" / "logs" / "train").glob("events.out.tfevents.*"))) == 1
