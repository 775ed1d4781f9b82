"""The dbt project run for real (dbt-duckdb, in process) on generated warehouses whose truth is known.

Few dbt invocations, and the project is parsed once for all of them (parsing is most of dbt's
start-up): one build of two consecutive hours with all dbt tests, one 3-hour and one 1-hour run to
show an hour's results do not depend on the run's extent, one run of a hand-made scenario where
p = 1 and no two people share a group, and two short runs of a scenario whose p changes by the hour
(p's standard error). Every warehouse file is named warehouse.duckdb, so the parsed
relation names (database = file stem) hold for all of them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from unittest.mock import ANY

import duckdb
import numpy as np
import pytest
from dbt.cli.main import dbtRunner
from dbt.contracts.graph.manifest import Manifest

from individ.fictitious import DEFAULT_DIRECTION_MIX
from individ.site_config import CameraRole
from tests.dbt.synthetic_mall import DIRECTIONS, MallLayout, Scenario, generate, write_warehouse

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
START = dt.datetime(2026, 11, 20, 6, tzinfo=dt.UTC)
HOURS = 8
FIRST, SECOND = 2, 3  # the two consecutive hours of the main build (08:00 and 09:00 UTC)


def hour_iso(offset: int) -> str:
    return (START + dt.timedelta(hours=offset)).isoformat()


def dbt_args(work: Path) -> list[str]:
    return [
        *("--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)),
        *("--target-path", str(work / "target"), "--log-path", str(work / "logs")),
    ]


@pytest.fixture(scope="session")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    work = tmp_path_factory.mktemp("dbt_parse")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("INDIVID_WAREHOUSE", str(work / "warehouse.duckdb"))
        result = dbtRunner().invoke(["parse", *dbt_args(work)])
    assert result.success, result.exception
    assert isinstance(result.result, Manifest)
    return result.result


def run_dbt(
    command: str,
    manifest: Manifest,
    warehouse: Path,
    first_hour: int,
    hours: int,
    monkeypatch: pytest.MonkeyPatch,
    *,
    select: str | None = None,
    variables: dict[str, object] | None = None,
) -> None:
    assert warehouse.name == "warehouse.duckdb"
    monkeypatch.setenv("INDIVID_WAREHOUSE", str(warehouse))
    window = {"window_start": hour_iso(first_hour), "window_end": hour_iso(first_hour + hours), **(variables or {})}
    selection = ["--select", select] if select else []
    result = dbtRunner(manifest=manifest).invoke(
        [command, *dbt_args(warehouse.parent), "--vars", json.dumps(window), *selection]
    )
    assert result.success, f"dbt {command} failed: {result.exception or 'see the dbt log above'}"


def query(warehouse: Path, sql: str) -> list[tuple]:
    # Default configuration, as dbt-duckdb's connection: DuckDB shares one open database per process
    # and refuses a second connection to the same file with other settings (read_only included).
    with duckdb.connect(str(warehouse)) as con:
        con.execute("set TimeZone = 'UTC'")
        return con.sql(sql).fetchall()


@pytest.fixture(scope="module")
def mall(tmp_path_factory: pytest.TempPathFactory, manifest: Manifest) -> Iterator[tuple[Scenario, Path, Manifest]]:
    work = tmp_path_factory.mktemp("dbt_mall")
    scenario = generate(start=START, hours=HOURS, visitors_per_hour=400, keep=0.7071, min_members=1.0, seed=7)
    warehouse = work / "warehouse.duckdb"
    write_warehouse(scenario, warehouse, min_cell_size=5)
    with pytest.MonkeyPatch.context() as monkeypatch:
        run_dbt("build", manifest, warehouse, FIRST, 2, monkeypatch)
    yield scenario, warehouse, manifest


def flows_of(warehouse: Path, table: str = "flow_matrix_hourly") -> dict[tuple[str, str, str], tuple]:
    rows = query(
        warehouse,
        f"select origin_camera_id, destination_camera_id, cast(hour_start as varchar), estimated_flow,"
        f" flow_ci_low, flow_ci_high, same_group_pairs, chance_expectation from marts.{table}",
    )
    return {(r[0], r[1], r[2]): r[3:] for r in rows}


def test_footfall_is_stored_passes_minus_fictitious(mall: tuple[Scenario, Path, Manifest]) -> None:
    scenario, warehouse, _ = mall
    rows = query(warehouse, "select camera_id, epoch(hour_start), footfall, passes_stored from marts.footfall_hourly")
    assert {int(r[1]) for r in rows} == {int(START.timestamp()) + 3600 * h for h in (FIRST, SECOND)}
    assert len(rows) == 2 * len(scenario.camera_ids)
    for camera, hour_epoch, footfall, stored in rows:
        hour = (int(hour_epoch) - int(START.timestamp())) // 3600
        assert footfall == scenario.real_passes(camera, hour)
        assert stored > footfall  # fictitious passes were added and removed again


def test_footfall_removes_the_fictitious_passes_by_the_cameras_direction_mix(
    mall: tuple[Scenario, Path, Manifest],
) -> None:
    """At an entrance or store door in every real pass is 'in' while the fictitious ones follow the role's mix
    (85 % in, 5 % out, 10 % unknown; the reverse for exits and doors out): removing them by that mix leaves the
    real passes in the role's direction and none in the others, within the noise of the direction draw.
    Removing them in proportion to the stored passes (the real mix) would be off by several times that noise."""
    scenario, warehouse, _ = mall
    rows = query(
        warehouse,
        "select camera_id, camera_role, epoch(hour_start), footfall, footfall_in, footfall_out,"
        " footfall_unknown_direction, fictitious_removed from marts.footfall_hourly",
    )
    for role, own_direction in (
        ("store_door_in", "in"),
        ("entrance", "in"),
        ("exit", "out"),
        ("store_door_out", "out"),
    ):
        picked = [row for row in rows if row[1] == role]
        assert picked, role
        real = sum(scenario.real_passes(row[0], int(row[2] - START.timestamp()) // 3600) for row in picked)
        fictitious = sum(row[7] for row in picked)
        figures = dict(zip(DIRECTIONS, (sum(row[i] for row in picked) for i in (4, 5, 6)), strict=True))
        assert sum(figures.values()) == pytest.approx(sum(row[3] for row in picked)) == real
        for direction, figure in figures.items():
            share = DEFAULT_DIRECTION_MIX[CameraRole(role)][direction]
            noise = np.sqrt(fictitious * share * (1 - share))  # sd of the multinomial direction draw
            expected = real if direction == own_direction else 0
            assert abs(figure - expected) < 3 * noise, (role, direction, figure, expected, noise)


def test_sensor_health_reports_each_hours_totals_and_latency(mall: tuple[Scenario, Path, Manifest]) -> None:
    """The mall's heartbeats are as the sensor writes them: minutes for health, the hour's totals on its last row."""
    scenario, warehouse, _ = mall
    rows = query(
        warehouse,
        "select camera_id, epoch(hour_start), heartbeat_minutes, ok_minutes, frames_read, frames_processed,"
        " frames_dropped, dropped_frame_share, persons_detected, real_emitted, latency_p50_ms, latency_p99_max_ms"
        " from marts.sensor_health",
    )
    assert len(rows) == 2 * len(scenario.camera_ids)
    for camera, hour_epoch, minutes, ok, read, processed, dropped, share, persons, real, p50, p99 in rows:
        hour = (int(hour_epoch) - int(START.timestamp())) // 3600
        assert (minutes, ok, read, processed, dropped) == (60, 60, 60 * 600, 60 * 590, 60 * 10)
        assert share == pytest.approx(1 / 60)
        assert (persons, real) == (3 * scenario.real_passes(camera, hour), scenario.real_passes(camera, hour))
        assert (p50, p99) == (12.0, 40.0)  # the closing row's, not a summary of 59 empty minutes'


def test_flow_estimates_cover_the_truth(mall: tuple[Scenario, Path, Manifest]) -> None:
    scenario, warehouse, _ = mall
    truth = scenario.true_flows()
    flows = flows_of(warehouse)
    covered, totals = [], np.zeros(2)
    for (origin, destination, hour_text), (estimate, low, high, *_) in flows.items():
        hour = (
            int(dt.datetime.fromisoformat(hour_text).replace(tzinfo=dt.UTC).timestamp()) - int(START.timestamp())
        ) // 3600
        true = truth.get((origin, destination, hour), 0)
        covered.append(low <= true <= high)
        totals += (estimate, true)
    assert len(flows) == 2 * len(scenario.camera_ids) ** 2
    assert 0.85 <= np.mean(covered) <= 1.0
    assert totals[0] == pytest.approx(totals[1], rel=0.15)


def test_lag_profile_hours_add_up_to_the_day_and_cover_the_truth(mall: tuple[Scenario, Path, Manifest]) -> None:
    scenario, warehouse, _ = mall
    sums = query(
        warehouse,
        """
        select daily.estimated_flow, sum(hourly.estimated_flow), count(*)
        from marts.flow_matrix_daily as daily
        inner join marts.flow_matrix_hourly_profiled as hourly
            using (site_day, origin_camera_id, destination_camera_id)
        group by all
        """,
    )
    assert len(sums) == len(scenario.camera_ids) ** 2
    for daily, hourly_sum, hours in sums:
        assert hours == 2
        assert hourly_sum == pytest.approx(daily, rel=1e-9, abs=1e-9)
    estimators = dict(query(warehouse, "select estimator, count(*) from marts.flow_matrix_hourly_profiled group by 1"))
    assert estimators.get("lag_profile", 0) > 0, "walks between some cameras are direct: they should use the profile"
    truth = scenario.true_flows()
    rows = query(
        warehouse,
        "select origin_camera_id, destination_camera_id, epoch(hour_start), flow_ci_low, flow_ci_high"
        " from marts.flow_matrix_hourly_profiled",
    )
    start = int(START.timestamp())
    covered = [low <= truth.get((a, b, (int(t) - start) // 3600), 0) <= high for a, b, t, low, high in rows]
    assert 0.85 <= np.mean(covered) <= 1.0


def test_daily_flow_and_reidentification_rate(mall: tuple[Scenario, Path, Manifest]) -> None:
    scenario, warehouse, _ = mall
    (p_used, low, high, source), *_ = query(
        warehouse,
        "select p_used, p_ci_low, p_ci_high, p_source from marts.reidentification_calibration"
        " where calibration_scope = 'all_stores'",
    )
    assert source == "estimate" and low <= 0.5 <= high and 0.35 < p_used < 0.65
    daily = query(warehouse, "select sum(hours), count(*) from marts.flow_matrix_daily")
    assert daily == [(2 * len(scenario.camera_ids) ** 2, len(scenario.camera_ids) ** 2)]


FLOW_MARTS = ("flow_matrix_hourly", "flow_matrix_hourly_profiled", "flow_matrix_daily", "flow_matrix_zone_daily")


def provenance_by_day(warehouse: Path, table: str) -> dict[str, set[tuple[str, str, bool]]]:
    """site_day -> the distinct (chance_rate_method, p_source, is_provisional) of a flow mart's rows that day."""
    rows = query(
        warehouse,
        f"select distinct cast(site_day as varchar), chance_rate_method, p_source, is_provisional from marts.{table}",
    )
    by_day: dict[str, set[tuple[str, str, bool]]] = {}
    for day, *provenance in rows:
        by_day.setdefault(day, set()).add(tuple(provenance))  # type: ignore[arg-type]
    return by_day


def test_flows_of_a_day_with_its_own_s_and_p_are_not_provisional(mall: tuple[Scenario, Path, Manifest]) -> None:
    _, warehouse, _ = mall
    settled = {("far_hour_pairs", "estimate", False)}
    for table in FLOW_MARTS:
        assert provenance_by_day(warehouse, table) == {"2026-11-20": settled}, table
    # The hourly flows carry their day's sources of s and p as fitted.
    ((mismatches,),) = query(
        warehouse,
        """
        select count(*)
        from marts.flow_matrix_hourly as flows
        inner join intermediate.int_chance_rate_daily as rate using (site_day)
        inner join marts.reidentification_calibration as calibration
            on flows.site_day = calibration.site_day and calibration.calibration_scope = 'all_stores'
        where flows.chance_rate_method <> rate.chance_rate_method or flows.p_source <> calibration.p_source
        """,
    )
    assert mismatches == 0


def test_zone_flow_intervals_come_from_the_spread_of_blocks_of_groups(mall: tuple[Scenario, Path, Manifest]) -> None:
    """The zone mart's standard error, recomputed here from its K blocks of groups: the spread of the blocks'
    M_b - B_b, plus the uncertainty of s and p as in the camera matrix; blocks add up to the zone's counts."""
    _, warehouse, _ = mall
    ((blocks,),) = query(warehouse, "select interval_blocks from intermediate.int_run_window")
    by_block: dict[tuple[str, str], np.ndarray] = {}
    for origin, destination, block, pairs, chance in query(
        warehouse,
        "select origin_zone, destination_zone, block, sum(same_group_pairs), sum(chance_expectation)"
        " from intermediate.int_zone_pair_blocks_hourly group by all",
    ):
        by_block.setdefault((origin, destination), np.zeros((2, blocks)))[:, block] = (pairs, chance)
    camera_sums = {
        (r[0], r[1]): r[2:]
        for r in query(
            warehouse,
            "select origin_zone, destination_zone, sum(chance_rate_sensitivity), any_value(chance_rate_sd),"
            " any_value(p_sd), sum(double_count_factor * same_group_pairs) / sum(same_group_pairs)"
            " from marts.flow_matrix_daily group by all",
        )
    }
    zones = query(
        warehouse,
        "select origin_zone, destination_zone, same_group_pairs, chance_expectation, estimated_flow, flow_se,"
        " flow_ci_low, flow_ci_high, p_used, chance_rate from marts.flow_matrix_zone_daily",
    )
    assert len(zones) == 4 == len(by_block)  # two zones
    for origin, destination, pairs, chance, flow, se, low, high, p, s in zones:
        (m_by_block, b_by_block) = by_block[(origin, destination)]
        sensitivity, s_sd, p_sd, double_count_factor = camera_sums[(origin, destination)]
        assert m_by_block.sum() == pairs
        # B_b follows each block's share of the passes; over the blocks they add up to about B.
        assert b_by_block.sum() == pytest.approx(chance, rel=0.02)
        assert b_by_block.std() > 0
        e = m_by_block - b_by_block
        variance = (
            double_count_factor**2 * blocks / (blocks - 1) * np.sum((e - e.mean()) ** 2) + (sensitivity * s_sd) ** 2
        )
        expected_se = np.sqrt(variance / (p - s) ** 2 + (flow * p_sd / (p - s)) ** 2)
        assert se == pytest.approx(expected_se, rel=1e-6)
        assert high == pytest.approx(flow + 2.093024 * se, rel=1e-9)
        assert low == pytest.approx(max(flow - 2.093024 * se, 0), rel=1e-9, abs=1e-9)


def test_dwell_medians_match_the_generated_visits(mall: tuple[Scenario, Path, Manifest]) -> None:
    _, warehouse, _ = mall
    rows = query(
        warehouse,
        "select scope_id, dwell_median_minutes, dwell_median_ci_low, dwell_median_ci_high"
        " from marts.dwell_estimates where period = 'day' and visit_scope = 'store'",
    )
    assert len(rows) == MallLayout().stores
    # Generated store dwell: 1 minute + Gamma(2, 5 minutes): median 9.4 minutes.
    for _store, median, low, high in rows:
        assert 6.0 < median < 13.0
        assert low <= median <= high


def test_small_demographic_cells_are_suppressed(mall: tuple[Scenario, Path, Manifest]) -> None:
    _, warehouse, _ = mall
    rows = query(warehouse, "select visitors, is_suppressed, min_cell_size from marts.store_demographics")
    assert rows, "no demographic rows"
    assert any(suppressed for _, suppressed, _ in rows), "the scenario should produce some small cells"
    for visitors, suppressed, minimum in rows:
        assert suppressed == (visitors is None)
        assert suppressed or visitors >= minimum


def zone_blocks_of(warehouse: Path, hour: int) -> dict[tuple[str, str, int], tuple[int, float]]:
    """(origin zone, destination zone, block) -> (M_b, B_b) of one origin hour."""
    rows = query(
        warehouse,
        "select origin_zone, destination_zone, block, same_group_pairs, chance_expectation"
        f" from intermediate.int_zone_pair_blocks_hourly where hour_start = '{hour_iso(hour)}'::timestamptz",
    )
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


def test_an_hour_does_not_depend_on_how_many_hours_a_run_covers(
    mall: tuple[Scenario, Path, Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, warehouse, manifest = mall
    after_two_hours, day_after_two_hours = flows_of(warehouse), calibration_rows(warehouse)
    blocks_after_two_hours = zone_blocks_of(warehouse, SECOND)
    run_dbt("run", manifest, warehouse, FIRST - 1, 3, monkeypatch)
    after_three_hours, day_after_three_hours = flows_of(warehouse), calibration_rows(warehouse)
    blocks_after_three_hours = zone_blocks_of(warehouse, SECOND)
    run_dbt("run", manifest, warehouse, SECOND, 1, monkeypatch)
    after_one_hour, day_after_one_hour = flows_of(warehouse), calibration_rows(warehouse)
    # The zone intervals' blocks of groups too (their chance part reads the camera-hours around the hour).
    blocks_after_one_hour = zone_blocks_of(warehouse, SECOND)
    assert blocks_after_two_hours
    assert blocks_after_one_hour.keys() == blocks_after_three_hours.keys() == blocks_after_two_hours.keys()
    for key, block in blocks_after_two_hours.items():
        assert blocks_after_three_hours[key] == pytest.approx(block, rel=1e-9)
        assert blocks_after_one_hour[key] == pytest.approx(block, rel=1e-9)
    # p and its sd (the jackknife over the day's hours included) come from the whole day whatever the run covers.
    assert day_after_two_hours["all_stores"][2] is not None
    assert day_after_three_hours.keys() == day_after_one_hour.keys() == day_after_two_hours.keys()
    for scope, day in day_after_two_hours.items():
        assert day_after_three_hours[scope] == pytest.approx(day, rel=1e-9)
        assert day_after_one_hour[scope] == pytest.approx(day, rel=1e-9)
    second_hour = (START + dt.timedelta(hours=SECOND)).replace(tzinfo=None).isoformat(sep=" ")
    keys = [key for key in after_two_hours if key[2] == second_hour]
    assert keys
    for key in keys:
        assert after_three_hours[key] == pytest.approx(after_two_hours[key], rel=1e-9, abs=1e-9)
        assert after_one_hour[key] == pytest.approx(after_two_hours[key], rel=1e-9, abs=1e-9)
    assert len(after_three_hours) == 3 * len(keys)


def exact_scenario() -> Scenario:
    """Twenty people, each in a group of their own, every sighting in that group (p = 1), no padding:
    ten go entrance-0 -> corridor-0 in the first hour, ten corridor-0 -> store-0-in in the second."""
    layout = MallLayout()
    ids = [camera[0] for camera in layout.cameras()]
    cams, times, groups, persons = [], [], [], []
    for person in range(20):
        hour = person // 10
        t0 = hour * 3600 + 300 + 180 * (person % 10)
        first, second = ("entrance-0", "corridor-0") if hour == 0 else ("corridor-0", "store-0-in")
        for camera, t in ((first, t0), (second, t0 + 120 + person)):
            cams.append(ids.index(camera))
            times.append(t)
            groups.append(10 * person + 3)
            persons.append(person)
    hours = 3
    return Scenario(
        start=START,
        hours=hours,
        camera_ids=ids,
        camera_idx=np.array(cams, dtype=np.int32),
        t=np.array(times, dtype=np.int64),
        group=np.array(groups, dtype=np.int16),
        person=np.array(persons, dtype=np.int64),
        direction=np.zeros(len(cams), dtype=np.int8),
        expected_per_hour=np.zeros(len(ids)),
        plan=np.zeros((len(ids), hours)),
        n_groups=1000,
        max_lag_minutes=30,
        is_double=np.zeros(len(cams), dtype=bool),
    )


def test_flow_with_p_one_and_no_chance_collisions_is_exact(
    tmp_path: Path, manifest: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = exact_scenario()
    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(scenario, warehouse, p_override=1.0)
    run_dbt("run", manifest, warehouse, 0, 2, monkeypatch)
    flows = flows_of(warehouse)
    first, second = (str(START.replace(tzinfo=None) + dt.timedelta(hours=h)) for h in (0, 1))
    for key, truth in ((("entrance-0", "corridor-0", first), 10), (("corridor-0", "store-0-in", second), 10)):
        estimate, low, high, pairs, chance = flows[key]
        assert pairs == truth
        assert chance < 0.1
        assert estimate == pytest.approx(truth, abs=0.1)
        assert low <= truth <= high
    profiled = flows_of(warehouse, "flow_matrix_hourly_profiled")
    for key in (("entrance-0", "corridor-0", first), ("corridor-0", "store-0-in", second)):
        assert profiled[key][0] == pytest.approx(10, abs=0.1)  # every walk is direct: the profile's share is 1
    others = [
        values[0]
        for key, values in flows.items()
        if key[:2] not in {("entrance-0", "corridor-0"), ("corridor-0", "store-0-in")}
    ]
    assert max(abs(value) for value in others) < 0.1
    # Three hours hold no hour pair 5 h apart: s is the uniform-groups stand-in (sd 0), p the override.
    for table in FLOW_MARTS:
        assert provenance_by_day(warehouse, table) == {"2026-11-20": {("uniform_groups", "override", True)}}, table


def hour_varying_scenario() -> Scenario:
    """The mall with p changing by the hour: every real door-out in an odd hour gets a fresh group, so most visits
    starting in an odd hour are lost (p about 0.1 there, 0.4 in the even hours). The per-hour excess pairs then
    scatter far more than independent (Poisson) pair counts would, as pairs that come several at a time do."""
    scenario = generate(start=START, hours=HOURS, visitors_per_hour=400, keep=0.7071, min_members=0.0, seed=11)
    door_outs = np.array([camera.endswith("-out") for camera in scenario.camera_ids])
    lost = (scenario.person >= 0) & door_outs[scenario.camera_idx] & (scenario.t // 3600 % 2 == 1)
    fresh = np.random.default_rng(12).integers(0, scenario.n_groups, size=int(lost.sum()))
    scenario.group = scenario.group.copy()
    scenario.group[lost] = fresh
    return scenario


def store_hour_rows(warehouse: Path) -> dict[str, np.ndarray]:
    """Per store (and "all_stores", pooled per hour): an (hours x 3) array of real door-ins R, excess pairs M - B
    and dB/ds per origin hour, read from the intermediate tables the mart sums."""
    rows = query(
        warehouse,
        """
        with pairs as (
            select scope_id, hour_idx, sum(same_group_pairs) as pairs from intermediate.int_visit_lag_pair_counts
            where visit_scope = 'store' group by all
        ),
        chance as (
            select scope_id, hour_idx, sum(chance_expectation) as chance, sum(chance_rate_sensitivity) as sensitivity
            from intermediate.int_visit_lag_chance where visit_scope = 'store' group by all
        )
        select origins.scope_id, origins.hour_idx, origins.origin_real,
            coalesce(pairs.pairs, 0) - coalesce(chance.chance, 0), coalesce(chance.sensitivity, 0)
        from intermediate.int_visit_origin_hours as origins
        left join pairs using (scope_id, hour_idx)
        left join chance using (scope_id, hour_idx)
        where origins.visit_scope = 'store'
        """,
    )
    stores = {row[0] for row in rows}
    hours = sorted({row[1] for row in rows})
    table = np.zeros((len(stores), len(hours), 3))
    store_index = {store: i for i, store in enumerate(sorted(stores))}
    for store, hour, *values in rows:
        table[store_index[store], hours.index(hour)] = values
    return {**{store: table[i] for store, i in store_index.items()}, "all_stores": table.sum(axis=0)}


def jackknife_sd(real: np.ndarray, excess: np.ndarray) -> float:
    """Delete-one-hour jackknife of sum(excess) / sum(real): sqrt((n - 1) / n * sum (replicate - mean)^2)."""
    replicates = (excess.sum() - excess) / (real.sum() - real)
    return float(np.sqrt((real.size - 1) / real.size * np.sum((replicates - replicates.mean()) ** 2)))


def calibration_rows(warehouse: Path) -> dict[str, tuple]:
    """Scope (a store or all_stores) -> (origin_hours, pair_sd_poisson, pair_sd_jackknife, p_sd, p_used_sd), for the
    rows whose p is the day's own estimate."""
    rows = query(
        warehouse,
        "select coalesce(store_id, calibration_scope), origin_hours, pair_sd_poisson, pair_sd_jackknife, p_sd,"
        " p_used_sd from marts.reidentification_calibration where p_source = 'estimate'",
    )
    return {row[0]: row[1:] for row in rows}


def test_p_sd_widens_to_the_jackknife_over_hours_when_pairs_scatter_more_than_poisson(
    tmp_path: Path, manifest: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(hour_varying_scenario(), warehouse)
    run_dbt("run", manifest, warehouse, 0, HOURS, monkeypatch, select="+reidentification_calibration")
    (chance_rate_sd,), *_ = query(warehouse, "select chance_rate_sd from intermediate.int_chance_rate_daily")
    hour_rows = store_hour_rows(warehouse)
    calibration = calibration_rows(warehouse)
    assert set(calibration) == set(hour_rows) and len(calibration) == MallLayout().stores + 1
    # The chance rate's part of p's sd, (1 - (dB/ds) / R) sd_s, left as it was.
    chance_part = {
        scope: (1 - rows[:, 2].sum() / rows[:, 0].sum()) * chance_rate_sd for scope, rows in hour_rows.items()
    }
    for scope, rows in hour_rows.items():
        real, excess, _ = rows.T
        origin_hours, poisson, jackknife, p_sd, *_ = calibration[scope]
        assert origin_hours == np.count_nonzero(real) >= 6
        assert jackknife == pytest.approx(jackknife_sd(real, excess), rel=1e-9)
        assert jackknife > 2 * poisson, scope  # p swings between about 0.4 and 0.1 from hour to hour
        assert p_sd == pytest.approx(np.hypot(jackknife, chance_part[scope]), rel=1e-9)
    *_, p_sd, p_used_sd = calibration["all_stores"]
    assert p_used_sd == p_sd

    # Too few origin hours for a jackknife: the Poisson value alone, as before.
    run_dbt(
        "run",
        manifest,
        warehouse,
        0,
        HOURS,
        monkeypatch,
        select="reidentification_calibration",
        variables={"p_jackknife_min_hours": 99},
    )
    for scope, (_, poisson, jackknife, p_sd, *_) in calibration_rows(warehouse).items():
        assert jackknife is None
        assert p_sd == pytest.approx(np.hypot(poisson, chance_part[scope]), rel=1e-9)


def test_a_camera_hour_without_its_heartbeat_totals_removes_the_plans_fictitious_passes(
    tmp_path: Path, manifest: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeats carry an hour's fictitious count on its last row. At entrance-0 that row is lost (59 of 60
    minutes left); exit-0's sensor crashed at half past, before writing it (no heartbeat, no pass after). Their
    footfall removes the plan's expectation for the minutes covered instead, flagged; the others are exact."""
    scenario = generate(start=START, hours=3, visitors_per_hour=300, keep=0.7071, min_members=3.0, seed=11)
    exit_0, crash = scenario.camera("exit-0"), 3600 + 1800
    running = ~((scenario.camera_idx == exit_0) & (scenario.t >= crash) & (scenario.t < 2 * 3600))
    scenario = replace(
        scenario,
        **{name: getattr(scenario, name)[running] for name in ("camera_idx", "t", "group", "person", "direction")},
        is_double=scenario.is_double[running],
    )
    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(scenario, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute(
            "delete from raw.heartbeats where (camera_id = 'entrance-0' and minute_start = ?)"
            " or (camera_id = 'exit-0' and minute_start >= ? and minute_start < ?)",
            [START + dt.timedelta(minutes=119), START + dt.timedelta(seconds=crash), START + dt.timedelta(hours=2)],
        )
    models = "+footfall_hourly +int_camera_hour_totals +sensor_health"
    run_dbt("run", manifest, warehouse, 1, 1, monkeypatch, select=models)
    rows = query(
        warehouse,
        "select camera_id, fictitious_source, fictitious_removed, fictitious_emitted, footfall, passes_stored,"
        " unaccounted_passes, heartbeat_minutes from marts.footfall_hourly",
    )
    assert len(rows) == len(scenario.camera_ids)
    used = dict(
        query(
            warehouse,
            "select cameras.camera_id, totals.fictitious_emitted from intermediate.int_camera_hour_totals as totals"
            " join intermediate.int_camera_index as cameras using (camera_idx)"
            f" where totals.hour_idx = {int(START.timestamp()) // 3600 + 1} and totals.fictitious_source = 'plan'",
        )
    )
    covered = {"entrance-0": 60, "exit-0": 30}
    for camera, source, removed, reported, footfall, stored, unaccounted, minutes in rows:
        real = scenario.real_passes(camera, 1)
        if camera not in covered:
            assert (source, removed, footfall, unaccounted) == ("heartbeats", reported, real, 0), camera
            continue
        plan = scenario.plan[scenario.camera(camera), 1]
        expected = round(plan * scenario.n_groups * covered[camera] / 60)
        assert (source, removed, reported, used[camera]) == ("plan", expected, 0, expected), camera
        assert (unaccounted, minutes) == (stored, covered[camera] - (camera == "entrance-0")), camera
        # The plan's expectation, not the count: off by the fictitious persons' own randomness only.
        assert abs(footfall - real) < 5 * np.sqrt(expected), camera
        assert stored - real > 10 * np.sqrt(expected)  # without the fallback every fictitious pass was counted
    assert used.keys() == covered.keys()
    # Sensor health shows the missing minutes; the hour's person-following figures went with its last heartbeat.
    health = query(
        warehouse,
        "select camera_id, missing_heartbeat_minutes, frames_processed, persons_detected, latency_p99_max_ms"
        " from marts.sensor_health where camera_id in ('entrance-0', 'exit-0', 'exit-1') order by camera_id",
    )
    assert health == [("entrance-0", 1, 0, 0, None), ("exit-0", 30, 0, 0, None), ("exit-1", 0, 60 * 590, ANY, 40.0)]


EVENING = 11  # 17:00 UTC: a scenario from there runs past midnight into a second site day of three hours


def test_flows_are_provisional_while_s_or_p_is_a_stand_in(
    tmp_path: Path, manifest: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten hours from 17:00 UTC: the first day (7 hours) fits its own s; the second (3 hours) has no hour pair
    5 h apart, so it borrows the first day's s. A stand-in for p alone, then for both, marks the flows
    provisional, and a day whose hours were stored with stand-ins stays provisional until all of them are
    materialized again."""
    scenario = generate(
        start=START + dt.timedelta(hours=EVENING), hours=10, visitors_per_hour=400, keep=0.7071, min_members=1.0, seed=3
    )
    warehouse = tmp_path / "warehouse.duckdb"
    write_warehouse(scenario, warehouse)
    flows = "+flow_matrix_hourly_profiled +flow_matrix_zone_daily"
    run_dbt("run", manifest, warehouse, EVENING, 10, monkeypatch, select=flows)
    first, second = "2026-11-20", "2026-11-21"
    rates = {
        str(row[0]): row[1:]
        for row in query(
            warehouse,
            "select site_day, chance_rate_method, chance_rate, chance_rate_sd from intermediate.int_chance_rate_daily",
        )
    }
    assert rates[first][0] == "far_hour_pairs" and rates[second][0] == "previous_day"
    assert rates[second][1:] == rates[first][1:]  # the first day's s and its sd
    for table in FLOW_MARTS:
        by_day = provenance_by_day(warehouse, table)
        assert by_day[first] == {("far_hour_pairs", "estimate", False)}, table
        assert by_day[second] == {("previous_day", "estimate", True)}, table

    # No p on either day (too few door-ins for an estimate, none the day before): provisional by p alone.
    run_dbt(
        "run", manifest, warehouse, EVENING, 10, monkeypatch, select=flows, variables={"p_estimate_min_door_ins": 1e9}
    )
    for table in FLOW_MARTS:
        by_day = provenance_by_day(warehouse, table)
        assert by_day[first] == {("far_hour_pairs", "unavailable", True)}, table
        assert by_day[second] == {("previous_day", "unavailable", True)}, table
    assert query(warehouse, "select count(estimated_flow) from marts.flow_matrix_hourly") == [(0,)]

    # Every stand-in: no s fit anywhere (s = 1/G, sd 0), and too few door-ins on the second day for its own p.
    door_ins = dict(
        query(
            warehouse,
            "select cast(site_day as varchar), door_in_net_of_doubles from marts.reidentification_calibration"
            " where calibration_scope = 'all_stores'",
        )
    )
    assert door_ins[first] > door_ins[second]
    stand_ins = {"chance_fit_min_hour_gap": 99, "p_estimate_min_door_ins": (door_ins[first] + door_ins[second]) / 2}
    run_dbt("run", manifest, warehouse, EVENING, 10, monkeypatch, select=flows, variables=stand_ins)
    for table in FLOW_MARTS:
        by_day = provenance_by_day(warehouse, table)
        assert by_day[first] == {("uniform_groups", "estimate", True)}, table
        assert by_day[second] == {("uniform_groups", "previous_day", True)}, table
    ((largest_sd, rate),) = query(
        warehouse, "select max(chance_rate_sd), max(chance_rate) from marts.flow_matrix_hourly"
    )
    assert largest_sd == 0 and rate == pytest.approx(1 / scenario.n_groups)
    p_used = dict(
        query(warehouse, "select cast(site_day as varchar), any_value(p_used) from marts.flow_matrix_daily group by 1")
    )
    assert p_used[second] == p_used[first]  # the first day's p

    # One hour of the first day materialized again with the data complete: that hour is settled, the day's
    # sums still hold the other hours' stand-ins.
    run_dbt("run", manifest, warehouse, EVENING + 2, 1, monkeypatch, select=flows)
    hours = query(
        warehouse,
        "select hour(hour_start), chance_rate_method, p_source, is_provisional from marts.flow_matrix_hourly"
        " where site_day = '2026-11-20' group by all",
    )
    assert {(hour, *rest) for hour, *rest in hours if hour == 19} == {(19, "far_hour_pairs", "estimate", False)}
    assert all(rest == ["uniform_groups", "estimate", True] for hour, *rest in hours if hour != 19)
    for table in ("flow_matrix_hourly_profiled", "flow_matrix_daily", "flow_matrix_zone_daily"):
        assert provenance_by_day(warehouse, table)[first] == {("uniform_groups", "estimate", True)}, table


def test_every_model_and_column_is_documented(mall: tuple[Scenario, Path, Manifest]) -> None:
    _, warehouse, manifest = mall
    models = [node for node in manifest.nodes.values() if node.resource_type == "model"]
    assert len(models) >= 20
    for node in models:
        assert node.description.strip(), f"{node.name} has no description"
        documented = {name for name, column in node.columns.items() if column.description.strip()}
        actual = {
            row[0]
            for row in query(
                warehouse,
                f"select column_name from information_schema.columns"
                f" where table_schema = '{node.schema}' and table_name = '{node.name}'",
            )
        }
        assert actual, f"{node.name} was not built"
        assert actual <= documented, f"{node.name}: undocumented columns {sorted(actual - documented)}"
        assert set(node.columns) <= actual, (
            f"{node.name}: documents missing columns {sorted(set(node.columns) - actual)}"
        )


DOUBLE_COUNT_RATE = 0.05


@pytest.fixture(scope="module")
def doubled_mall(
    tmp_path_factory: pytest.TempPathFactory, manifest: Manifest
) -> Iterator[tuple[Scenario, Path, Path, Manifest]]:
    """The mall with 5 % of real sightings emitted twice (1-3 s later, same camera), and the same mall as a sensor
    without double counts would have emitted it (every other sighting and its group unchanged), each run over
    the whole day. The second one's heartbeats are as older sensors wrote them, with a total per minute (the
    contract's sums are the same, and so are the results)."""
    scenario = generate(
        start=START,
        hours=HOURS,
        visitors_per_hour=400,
        keep=0.7071,
        min_members=1.0,
        double_count_rate=DOUBLE_COUNT_RATE,
        seed=5,
    )
    warehouses = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, version in (("doubled", scenario), ("clean", scenario.without_doubles())):
            warehouse = tmp_path_factory.mktemp(name) / "warehouse.duckdb"
            write_warehouse(version, warehouse, per_minute_totals=name == "clean")
            run_dbt("run", manifest, warehouse, 0, HOURS, monkeypatch)
            warehouses.append(warehouse)
    yield scenario, warehouses[0], warehouses[1], manifest


def test_double_count_rate_is_recovered_and_zero_without_doubles(
    doubled_mall: tuple[Scenario, Path, Path, Manifest], mall: tuple[Scenario, Path, Manifest]
) -> None:
    scenario, doubled, clean, _ = doubled_mall
    doubles, emitted = scenario.double_counts()
    rows = query(
        doubled,
        "select camera_id, site_double_count_rate, site_double_count_rate_sd, camera_double_count_rate,"
        " camera_double_count_rate_sd, double_count_rate, is_corrected from marts.double_count_rates",
    )
    assert len(rows) == len(scenario.camera_ids)
    site, site_sd = rows[0][1], rows[0][2]
    # d = (M_L - B_L) / ((p - s) R): p's own error (about 5 % here) comes on top of the counts' sd.
    assert site == pytest.approx(doubles / emitted, abs=3 * site_sd + 0.1 * doubles / emitted)
    assert site_sd < 0.15 * site
    for camera, *_, own, own_sd, applied, corrected in rows:
        index = scenario.camera(camera)
        at_camera = scenario.camera_idx == index
        true_rate = (scenario.is_double & at_camera).sum() / ((scenario.person >= 0) & at_camera).sum()
        assert corrected
        assert abs(own - true_rate) < 4 * own_sd + 0.1 * true_rate, camera
        assert applied > 0
    # Without doubles (the same sightings otherwise, and the main mall) nothing is corrected: the marts stay as
    # they were (footfall exact: test_footfall_is_stored_passes_minus_fictitious).
    for warehouse in (clean, mall[1]):
        ((corrected, largest_rate, largest_z),) = query(
            warehouse,
            "select bool_or(is_corrected), max(double_count_rate), max(site_excess_z) from marts.double_count_rates",
        )
        assert not corrected and largest_rate == 0 and largest_z < 3
        ((largest_gap,),) = query(
            warehouse,
            "select max(abs(excess_pairs - (same_group_pairs - chance_expectation))) from marts.flow_matrix_hourly",
        )
        assert largest_gap < 1e-9


def test_double_counts_are_removed_from_footfall_p_and_flows(
    doubled_mall: tuple[Scenario, Path, Path, Manifest],
) -> None:
    scenario, doubled, clean, _ = doubled_mall
    # Footfall: the camera-days against the real passes without doubles, before and after the correction.
    footfall = dict(query(doubled, "select camera_id, sum(footfall) from marts.footfall_hourly group by 1"))
    raw = dict(
        query(
            doubled, "select camera_id, sum(passes_stored - fictitious_emitted) from marts.footfall_hourly group by 1"
        )
    )
    truth = {camera: sum(scenario.real_passes(camera, hour) for hour in range(HOURS)) for camera in footfall}
    error = sum(abs(footfall[c] - truth[c]) for c in truth) / sum(truth.values())
    raw_error = sum(abs(raw[c] - truth[c]) for c in truth) / sum(truth.values())
    assert raw_error > 0.04 and error < raw_error / 3

    # p: the door pairs' excess and the door-ins net of doubles give p as without doubles, nearer than the
    # uncorrected excess (about (1 - d_in)(1 - d_out) high, the door-ins (1 - d_in)).
    def calibration(warehouse: Path) -> tuple[float, float, float, float, float]:
        ((p_used, rate, excess, raw_excess, door_ins),) = query(
            warehouse,
            "select p_used, chance_rate, excess_pairs, same_group_pairs - chance_expectation, door_in_net_of_doubles"
            " from marts.reidentification_calibration where calibration_scope = 'all_stores'",
        )
        return p_used, rate, excess, raw_excess, door_ins

    p_used, rate, excess, raw_excess, door_ins = calibration(doubled)
    _, _, clean_excess, _, clean_door_ins = calibration(clean)
    assert p_used == pytest.approx(rate + excess / door_ins, rel=1e-12)
    assert door_ins == pytest.approx(clean_door_ins, rel=0.01)
    assert abs(excess - clean_excess) < abs(raw_excess - clean_excess) / 2

    # Flows: the daily total and the camera-to-itself pairs (which hold the (original, double) pairs) as without
    # doubles; uncorrected, the excess is about d_A + d_B higher and each double adds an A -> A pair.
    def day_flows(warehouse: Path) -> tuple[float, float, float, float]:
        ((total, same_camera, raw_total, raw_same_camera),) = query(
            warehouse,
            """
            select
                sum(estimated_flow),
                sum(estimated_flow) filter (where origin_camera_id = destination_camera_id),
                sum((same_group_pairs - chance_expectation) / (p_used - chance_rate)),
                sum((same_group_pairs - chance_expectation) / (p_used - chance_rate))
                    filter (where origin_camera_id = destination_camera_id)
            from marts.flow_matrix_daily
            """,
        )
        return total, same_camera, raw_total, raw_same_camera

    (total, same_camera, raw_total, raw_same_camera) = day_flows(doubled)
    (clean_total, clean_same_camera, *_) = day_flows(clean)
    doubles, _ = scenario.double_counts()
    assert total == pytest.approx(clean_total, rel=0.02)
    assert raw_total > 1.06 * clean_total
    assert abs(same_camera - clean_same_camera) < 0.25 * doubles < 0.4 * (raw_same_camera - clean_same_camera)


def test_corrected_hours_do_not_depend_on_the_run_extent(
    doubled_mall: tuple[Scenario, Path, Path, Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, doubled, _, manifest = doubled_mall
    before = flows_of(doubled)
    footfall_sql = "select camera_id, epoch(hour_start), footfall from marts.footfall_hourly order by 1, 2"
    footfall_before = [row[2] for row in query(doubled, footfall_sql)]
    run_dbt("run", manifest, doubled, SECOND, 1, monkeypatch)
    after = flows_of(doubled)
    assert after.keys() == before.keys()
    for key, values in before.items():
        assert after[key] == pytest.approx(values, rel=1e-9, abs=1e-9)
    assert [row[2] for row in query(doubled, footfall_sql)] == pytest.approx(footfall_before, rel=1e-12)
