"""The fictitious plan: fixed in advance, never below the floor, with the published mean."""

import numpy as np
import pytest

from individ.fictitious import draw_fictitious_hour, fictitious_floor, plan_per_group


def test_floor_makes_a_cell_with_one_real_person_reach_the_minimum() -> None:
    assert fictitious_floor(3) == 2
    assert fictitious_floor(2.5) == 2
    assert fictitious_floor(0) == 0
    assert plan_per_group(expected_real_passes=5000, min_members=3) == 2.0
    assert plan_per_group(expected_real_passes=400, min_members=3) == pytest.approx(2.6)
    assert plan_per_group(expected_real_passes=0, min_members=3) == 3.0


@pytest.mark.parametrize("per_group", [2.0, 2.6, 3.0])
def test_every_group_gets_at_least_the_floor_and_the_mean_is_the_plan(per_group: float) -> None:
    rng = np.random.default_rng(7)
    counts = np.stack([np.bincount(draw_fictitious_hour(rng, per_group)[1], minlength=1000) for _ in range(40)])
    assert counts.min() >= 2
    assert counts.mean() == pytest.approx(per_group, abs=0.02)


def test_offsets_are_sorted_within_the_hour() -> None:
    offsets, groups = draw_fictitious_hour(np.random.default_rng(1), 2.3)
    assert offsets.size == groups.size
    assert np.all(np.diff(offsets) >= 0)
    assert offsets.min() >= 0 and offsets.max() < 3600
