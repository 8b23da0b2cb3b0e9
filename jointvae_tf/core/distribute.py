"""Training on several devices: which ``tf.distribute`` strategy, and who writes the files.

``none``: the default strategy (one device). ``mirrored``: ``tf.distribute.MirroredStrategy`` over
every local GPU (or the CPU when there is none), one replica each. ``multiworker``:
``tf.distribute.MultiWorkerMirroredStrategy`` over several machines, each described by the ``TF_CONFIG``
environment variable (see docs/reference/performance.md for launch examples).

Global batch semantics: ``train.batch_size`` is the batch of one optimizer step summed over all replicas;
``model.fit`` splits each batch between the replicas. Each replica's gradients are all-reduced by SUM
(Keras' TensorFlow optimizer), so the model divides its per-replica loss by
:func:`num_replicas` to make the summed gradient the gradient of the global-batch mean.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from jointvae_tf.core.config import DISTRIBUTE_STRATEGIES
from jointvae_tf.errors import ConfigError


def make_strategy(kind: str) -> tf.distribute.Strategy:
    """The strategy named ``kind`` (one of :data:`~jointvae_tf.core.config.DISTRIBUTE_STRATEGIES`); once per process."""
    if kind == "none":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ConfigError("train.distribute", "multiworker needs TF_CONFIG set on every worker first, e.g. "
                                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                                '"task": {"type": "worker", "index": 0}} (see docs/reference/performance.md)')
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError("kind", f"expected one of {', '.join(DISTRIBUTE_STRATEGIES)}, got {kind!r}")


def gpu_available() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def resolve_jit(jit_compile: bool | None) -> bool:
    """XLA on by default with a GPU, off on CPU (``jit_compile`` None).

    Measurements: docs/results/2026-11-26-training-speed.md.
    """
    return gpu_available() if jit_compile is None else jit_compile


def num_replicas() -> int:
    """Replicas that train in sync under the current strategy (1 outside any strategy)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run folder: the ``chief`` task, else worker 0, else (one machine) yes."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return _chief(resolver.task_type, resolver.task_id)


def writes_run_folder(kind: str) -> bool:
    """:func:`is_chief` of the strategy ``kind`` will make, known before it is made (from ``TF_CONFIG``)."""
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}) if kind == "multiworker" else {}
    return not task.get("type") or _chief(task["type"], int(task.get("index", 0)))


def _chief(task_type: str, task_id: int) -> bool:
    """The ``chief`` task, else worker 0 of a cluster without one."""
    if task_type == "chief":
        return True
    has_chief = "chief" in json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return task_type == "worker" and task_id == 0 and not has_chief


def replica_seed(seed: tf.Tensor) -> tf.Tensor:
    """``seed`` (stateless, int32 ``[2]``) folded with this replica's index in the sync group.

    Every replica steps the same (mirrored) seed generator, so without this each would draw the same
    noise for its share of the global batch. Outside a replica context (or on one device): index 0.
    """
    context = tf.distribute.get_replica_context()
    replica = context.replica_id_in_sync_group if context is not None else 0
    return tf.random.experimental.stateless_fold_in(seed, tf.cast(replica, tf.int32))


def step_logs(logs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """A train/test step's scalar logs, each as shape ``[1]`` across several workers.

    Keras 3.15 reduces multi-worker step outputs with ``MEAN`` over axis 0, which a scalar lacks; a
    one-element vector reduces to the scalar. One process (any number of local replicas): unchanged.
    """
    strategy = tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode():
        return {name: tf.reshape(value, [1]) for name, value in logs.items()}
    return logs

