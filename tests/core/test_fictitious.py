"""The fictitious plan: fixed in advance, never below the floor, with the published mean."""

import numpy as np
import pytest

from individ.fictitious import (
    DEFAULT_DIRECTION_MIX,
    direction_mix,
    draw_directions,
    draw_fictitious_hour,
    fictitious_floor,
    plan_per_group,
    retime_offsets,
)
from individ.site_config import Camera, CountingLine, Point


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


def test_a_partly_covered_hour_gets_its_whole_plan_over_the_covered_part() -> None:
    offsets, groups = draw_fictitious_hour(np.random.default_rng(2), 2.0, covered_from=3000)
    assert offsets.min() >= 3000 and offsets.max() < 3600
    assert np.bincount(groups, minlength=1000).min() == 2  # the floor, in every group
    with pytest.raises(ValueError, match="second of the hour"):
        draw_fictitious_hour(np.random.default_rng(2), 2.0, covered_from=3600)


def test_retimed_offsets_stay_in_their_window() -> None:
    offsets = retime_offsets(np.random.default_rng(3), 500, 1200, 1319)
    assert offsets.size == 500 and offsets.min() >= 1200 and offsets.max() <= 1319
    assert np.all(np.diff(offsets) >= 0)
    assert retime_offsets(np.random.default_rng(3), 10, 5, 5).tolist() == [5] * 10


def test_direction_mix_by_role_and_counting_line() -> None:
    line = CountingLine(start=Point(x=0, y=0.5), end=Point(x=1, y=0.5))
    assert direction_mix(Camera(id="a", source="x", role="entrance")) == {"unknown": 1.0}
    door_out = direction_mix(Camera(id="a", source="x", role="store_door_out", counting_line=line))
    assert max(door_out, key=door_out.__getitem__) == "out" and door_out["in"] > 0 and door_out["unknown"] > 0
    assert all(sum(mix.values()) == pytest.approx(1.0) for mix in DEFAULT_DIRECTION_MIX.values())
    directions = draw_directions(np.random.default_rng(4), {"in": 0.7, "out": 0.3}, 2000)
    assert set(directions) == {"in", "out"} and abs(directions.count("in") / 2000 - 0.7) < 0.04
