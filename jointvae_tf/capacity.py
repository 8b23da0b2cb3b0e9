"""Capacity schedules C(step) of the JointVAE objective (Dupont 2018, eq. 7)."""

from __future__ import annotations

import tensorflow as tf

from jointvae_tf.config import CapacitySchedule


def capacity_at(schedule: CapacitySchedule, step: tf.Tensor, cap: float | None = None) -> tf.Tensor:
    """Target KL in nats at training step ``step`` (scalar): linear from ``start`` to ``stop`` over ``steps``.

    Constant at ``stop`` after ``steps``; ``cap`` (for the discrete code, ``sum(log K_i)``) bounds it,
    since a discrete code cannot carry more than that against its uniform prior.
    """
    stop = schedule.stop if cap is None else min(schedule.stop, cap)
    start = min(schedule.start, stop)
    progress = tf.minimum(tf.cast(step, tf.float32) / float(max(schedule.steps, 1)), 1.0)
    return start + (stop - start) * progress
