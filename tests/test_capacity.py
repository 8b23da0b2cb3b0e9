"""Capacity schedules hit their end points, stay there, and respect the discrete cap."""

import numpy as np
import pytest

from jointvae_tf.capacity import capacity_at
from jointvae_tf.config import CapacitySchedule
from jointvae_tf.errors import JointVAEError


def test_linear_between_end_points_then_flat():
    schedule = CapacitySchedule(1.0, 5.0, 100)
    assert float(capacity_at(schedule, 0)) == pytest.approx(1.0)
    assert float(capacity_at(schedule, 50)) == pytest.approx(3.0)
    assert float(capacity_at(schedule, 100)) == pytest.approx(5.0)
    assert float(capacity_at(schedule, 10_000)) == pytest.approx(5.0)


def test_discrete_capacity_is_capped_at_sum_log_k():
    cap = np.log(3)
    assert float(capacity_at(CapacitySchedule(0.0, 10.0, 10), 10, cap=cap)) == pytest.approx(cap)
    assert float(capacity_at(CapacitySchedule(0.0, 10.0, 10), 5, cap=cap)) == pytest.approx(cap / 2)


def test_parse_flag_and_errors():
    assert CapacitySchedule.parse("0,5,25000", "--cont-capacity") == CapacitySchedule(0.0, 5.0, 25000)
    with pytest.raises(JointVAEError, match="--cont-capacity"):
        CapacitySchedule.parse("0,5", "--cont-capacity")
