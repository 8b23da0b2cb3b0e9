"""Capacity schedules hit their end points, stay there, and respect the discrete cap."""

import math

import numpy as np
import pytest

from jointvae_tf.core.capacity import capacity_at, ramp_end
from jointvae_tf.core.config import CapacitySchedule
from jointvae_tf.errors import JointVAEError


def test_linear_between_end_points_then_flat():
    schedule = CapacitySchedule(1.0, 5.0, 100)
    assert float(capacity_at(schedule, 0)) == pytest.approx(1.0)
    assert float(capacity_at(schedule, 50)) == pytest.approx(3.0)
    assert float(capacity_at(schedule, 100)) == pytest.approx(5.0)
    assert float(capacity_at(schedule, 10_000)) == pytest.approx(5.0)
    one_step = CapacitySchedule(1.0, 3.0, 1)
    assert [float(capacity_at(one_step, step)) for step in (0, 1, 2)] == pytest.approx([1.0, 3.0, 3.0])


def test_discrete_capacity_keeps_its_slope_and_stops_at_sum_log_k():
    # As the original: min(C(step), sum log K). MNIST's 0 -> 5 nats over 25k steps carries 2.0 nats at
    # step 10k and reaches log 10 at step 11.5k; stretching the ramp to end at log 10 would give 0.92.
    cap = np.log(10)
    schedule = CapacitySchedule(0.0, 5.0, 25_000)
    assert float(capacity_at(schedule, 10_000, cap=cap)) == pytest.approx(2.0)
    assert float(capacity_at(schedule, 11_000, cap=cap)) == pytest.approx(2.2)
    assert float(capacity_at(schedule, 12_000, cap=cap)) == pytest.approx(cap)
    assert float(capacity_at(schedule, 10**6, cap=cap)) == pytest.approx(cap)
    assert float(capacity_at(CapacitySchedule(1.0, 5.0, 100), 0, cap=0.5)) == pytest.approx(0.5)


def test_parse_flag_and_errors():
    assert CapacitySchedule.parse("0,5,25000") == CapacitySchedule(0.0, 5.0, 25000)
    with pytest.raises(JointVAEError, match="expected MIN,MAX,ITERS such as 0,5,25000, got '0,5'"):
        CapacitySchedule.parse("0,5")


def test_ramp_end_is_the_first_step_of_the_constant_capacity():
    schedule = CapacitySchedule(0.0, 5.0, 10_000)
    assert ramp_end(schedule) == 10_000
    cap = math.log(20)  # the most 20 categories can carry
    end = ramp_end(schedule, cap)
    assert end == 5_992
    assert float(capacity_at(schedule, end, cap)) == pytest.approx(cap)
    assert float(capacity_at(schedule, end - 1, cap)) < cap
    assert ramp_end(schedule, cap=6.0) == 10_000 and ramp_end(CapacitySchedule(1.0, 5.0, 100), cap=0.5) == 0
