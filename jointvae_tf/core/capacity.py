"""Capacity schedules C(step) of the JointVAE objective (Dupont 2018, eq. 7)."""

from __future__ import annotations

import math

import tensorflow as tf

from jointvae_tf.core.config import CapacitySchedule


def capacity_at(schedule: CapacitySchedule, step: tf.Tensor, cap: float | None = None) -> tf.Tensor:
    """Target KL in nats at training step ``step`` (scalar): linear from ``start`` to ``stop`` over ``steps``.

    Constant at ``stop`` after ``steps``. ``cap`` (for the discrete code, ``sum(log K_i)``, the most a
    discrete code can carry against its uniform prior) clips the schedule as the original does,
    ``min(C(step), cap)``: the ramp keeps its slope and stops early, it is not stretched to end at ``cap``.
    """
    progress = tf.minimum(tf.cast(step, tf.float32) / float(max(schedule.steps, 1)), 1.0)
    capacity = schedule.start + (schedule.stop - schedule.start) * progress
    return capacity if cap is None else tf.minimum(capacity, cap)


def ramp_end(schedule: CapacitySchedule, cap: float | None = None) -> int:
    """The first step from which :func:`capacity_at` stays constant: ``schedule.steps``, or earlier when
    ``cap`` clips the ramp (``steps * (cap - start) / (stop - start)``, rounded up)."""
    if cap is None or cap >= schedule.stop or schedule.stop <= schedule.start:
        return schedule.steps
    if cap <= schedule.start:
        return 0
    return math.ceil(schedule.steps * (cap - schedule.start) / (schedule.stop - schedule.start))
