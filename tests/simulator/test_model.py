"""The visitor model, the group linkage and the parameters."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from individ.simulator import SimulationParameters, SimulationResult, load_simulation_parameters
from individ.simulator.calibration import calibrated_site
from individ.simulator.cli import register
from individ.simulator.sensor_view import _fictitious, assign_groups, same_group_home_probability
from individ.simulator.visitors import DayClock, Topology, simulate_day
from individ.site_config import ConfigError, SiteConfig, load_site_config

Run = Callable[..., SimulationResult]


def _same_group_rate(groups: np.ndarray, person: np.ndarray, step: int) -> float:
    same_person = person[step:] == person[:-step]
    return float((groups[step:] == groups[:-step])[same_person].mean())


def _sightings(persons: int, per_person: int) -> tuple[np.ndarray, np.ndarray]:
    person = np.repeat(np.arange(persons), per_person)
    camera = np.tile(np.arange(per_person), persons)
    return person, camera


@pytest.mark.parametrize("p", [0.3, 0.5, 0.7])
def test_pairwise_linkage_gives_p_for_any_two_sightings(p: float) -> None:
    person, camera = _sightings(40_000, 4)
    groups = assign_groups(np.random.default_rng(1), person, camera, np.full(4, p), "pairwise", 40_000)
    for step in (1, 2, 3):  # consecutive and farther apart: the estimator's p holds for every pair
        assert _same_group_rate(groups, person, step) == pytest.approx(p, abs=0.01)
    assert groups.min() >= 0 and groups.max() <= 999


def test_previous_group_linkage_repeats_the_last_group_with_p() -> None:
    p = 0.5
    person, camera = _sightings(40_000, 4)
    groups = assign_groups(np.random.default_rng(2), person, camera, np.full(4, p), "previous_group", 40_000)
    assert _same_group_rate(groups, person, 1) == pytest.approx(p + (1 - p) / 1000, abs=0.01)
    assert _same_group_rate(groups, person, 2) == pytest.approx(p * p, abs=0.01)


def test_per_camera_p_changes_that_cameras_linkage() -> None:
    person, camera = _sightings(40_000, 3)
    camera_p = np.array([0.5, 0.5, 0.9])
    groups = assign_groups(np.random.default_rng(3), person, camera, camera_p, "pairwise", 40_000)
    to_last = (groups[2::3] == groups[1::3]).mean()
    assert to_last == pytest.approx(np.sqrt(0.5 * 0.9), abs=0.02)


def test_home_probability_solves_the_same_group_equation() -> None:
    for p in (0.01, 0.3, 0.5, 0.99):
        q = same_group_home_probability(p)
        b = (1 - q) / 1000
        assert (q + b) ** 2 + 999 * b * b == pytest.approx(p, rel=1e-9)
    with pytest.raises(ConfigError):
        same_group_home_probability(0.0005)


def test_fictitious_rows_leave_down_minutes_for_later_up_minutes_of_their_hour(site: SiteConfig) -> None:
    """As the sensor: a row in a minute whose heartbeat says down would be certainly fictitious; the plan's count
    per camera-hour is kept (the residual: rows in an hour's last minute stay, down or not)."""
    start = int(dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC).timestamp())
    minutes = 3 * 60
    up = np.zeros((len(site.cameras), minutes), dtype=bool)
    down = up.copy()
    down[0, 10:20] = True  # mid-hour: every row finds a later up minute
    down[1, 50:60] = True  # to the hour's end: the residual, in its last minute
    down[2, 70:80] = True  # the sensor was not running (no heartbeats): rows move out all the same
    missing = np.zeros_like(down)
    missing[2, 70:80] = True

    def draw(down: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, ...]:
        rngs = np.random.default_rng(3), np.random.default_rng(4)
        return _fictitious(*rngs, site, start, start, start + 60 * minutes, down, missing)

    plan, camera, at, group = draw(down, missing)
    planned_plan, planned_camera, planned_at, planned_group = draw(up, up)
    assert np.array_equal(plan, planned_plan)
    minute = (at - start) // 60
    assert not down[camera, minute].any() or set(minute[down[camera, minute]]) == {59}
    assert (camera[down[camera, minute]] == 1).all()
    for c in range(len(site.cameras)):  # each camera-hour keeps its planned rows and groups
        for hour in range(3):
            mine = (camera == c) & (minute // 60 == hour)
            planned = (planned_camera == c) & ((planned_at - start) // 3600 == hour)
            assert sorted(group[mine]) == sorted(planned_group[planned])
    assert (at[camera == 0] == planned_at[planned_camera == 0]).mean() < 1  # camera 0's outage rows moved


def test_the_days_truth_shows_p_in_same_group_pairs(run: Run, site: SiteConfig, tmp_path: Path) -> None:
    for p in (0.3, 0.7):
        result = run(site, tmp_path / str(p), p=p)
        flows = pl.read_parquet(result.truth / "true_flows_daily.parquet")
        rate = flows["same_group_pairs"].sum() / flows["pairs_observed"].sum()
        assert rate == pytest.approx(p, abs=0.03)


def test_visitor_routes_dwell_and_arrivals_are_realistic(site: SiteConfig) -> None:
    params = SimulationParameters(visitors_per_hour=2000)
    topology = Topology.of(site)
    clock = DayClock.of(site, params, dt.date(2026, 11, 2))
    day = simulate_day(np.random.default_rng(5), topology, params, clock)
    assert clock.opening == int(dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC).timestamp())  # 09:00 in Paris, winter
    assert day.persons == pytest.approx(2000 * 12, rel=0.03)
    assert day.trips > day.persons  # some come back
    dwell = day.visits.door_out - day.visits.door_in
    assert np.median(dwell) == pytest.approx(12 * 60, rel=0.1)
    assert np.quantile(dwell, 0.95) > 3 * np.median(dwell)  # heavy tail
    roles = np.array([site.camera(c).role.value for c in topology.camera_ids])[day.passes.camera]
    assert (roles == "entrance").sum() == day.trips == (roles == "exit").sum()
    assert (roles == "store_door_in").sum() == (roles == "store_door_out").sum() == day.visits.store.size
    assert day.visits.store.size / day.trips == pytest.approx(2.7, rel=0.1)
    assert (roles == "corridor").sum() >= day.visits.store.size
    # Sorted by person then time, and nobody is seen before opening or long after closing.
    assert np.all(np.diff(day.passes.person) >= 0)
    same = np.diff(day.passes.person) == 0
    assert np.all(np.diff(day.passes.time)[same] > 0)
    assert day.passes.time.min() >= clock.opening
    assert day.passes.time.max() <= clock.closing + 45 * 60


def test_parameters_file_is_validated(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("simulation:\n  visitors_per_hour: 1000\n  p: 0.3\n  imperfections:\n    enabled: false\n")
    params = load_simulation_parameters(good)
    assert params.visitors_per_hour == 1000 and params.p == 0.3 and not params.imperfections.enabled
    bad = tmp_path / "bad.yaml"
    bad.write_text("simulation:\n  p: 2\n  openning: '09:00'\n")
    with pytest.raises(ConfigError, match="p") as error:
        load_simulation_parameters(bad)
    assert "openning" in str(error.value)
    with pytest.raises(ConfigError, match="cannot read"):
        load_simulation_parameters(tmp_path / "missing.yaml")
    with pytest.raises(ValidationError, match="closing"):
        SimulationParameters(opening="21:00", closing="09:00")


def test_cli_writes_landing_zone_and_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "simulate",
            "--data",
            str(tmp_path),
            "--date",
            "2026-11-02",
            "--visitors-per-hour",
            "200",
            "--opening",
            "10:00",
            "--closing",
            "11:00",
            "--p",
            "0.6",
            "--seed",
            "3",
            "--no-imperfections",
            "--calibrate-traffic",
        ]
    )
    assert args.handler(args) == 0
    calibrated = load_site_config(tmp_path / "site.yaml")
    assert calibrated.camera("north-entrance").expected_passes(10) > 0  # 10:00 local: open
    assert calibrated.camera("north-entrance").expected_passes(3) == 0
    meta = json.loads((tmp_path / "truth" / "meta.json").read_text())
    assert meta["p"] == 0.6 and meta["seed"] == 3 and meta["imperfections"]["enabled"] is False
    assert any((tmp_path / "landing" / "occurrences").rglob("*.parquet"))
    assert "ground truth" in capsys.readouterr().out


def test_calibrated_expected_traffic_matches_the_simulated_traffic(site: SiteConfig) -> None:
    params = SimulationParameters(visitors_per_hour=1000)
    calibrated = calibrated_site(site, params, dt.date(2026, 11, 2), seed=4)
    topology = Topology.of(site)
    day = simulate_day(np.random.default_rng(9), topology, params, DayClock.of(site, params, dt.date(2026, 11, 2)))
    for index, camera_id in enumerate(topology.camera_ids):
        expected = sum(calibrated.camera(camera_id).expected_passes(h) for h in range(24))
        assert expected == pytest.approx((day.passes.camera == index).sum(), rel=0.1)
