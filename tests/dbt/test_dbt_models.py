"""The dbt project run for real (dbt-duckdb, in process) on generated warehouses whose truth is known.

Few dbt invocations, and the project is parsed once for all of them (parsing is most of dbt's
start-up): one build of two consecutive hours with all dbt tests, one 3-hour and one 1-hour run to
show an hour's results do not depend on the run's extent, and one run of a hand-made scenario where
p = 1 and no two people share a group. Every warehouse file is named warehouse.duckdb, so the parsed
relation names (database = file stem) hold for all of them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pytest
from dbt.cli.main import dbtRunner
from dbt.contracts.graph.manifest import Manifest

from tests.dbt.synthetic_mall import MallLayout, Scenario, generate, write_warehouse

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
    command: str, manifest: Manifest, warehouse: Path, first_hour: int, hours: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert warehouse.name == "warehouse.duckdb"
    monkeypatch.setenv("INDIVID_WAREHOUSE", str(warehouse))
    window = {"window_start": hour_iso(first_hour), "window_end": hour_iso(first_hour + hours)}
    result = dbtRunner(manifest=manifest).invoke([command, *dbt_args(warehouse.parent), "--vars", json.dumps(window)])
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


def test_an_hour_does_not_depend_on_how_many_hours_a_run_covers(
    mall: tuple[Scenario, Path, Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, warehouse, manifest = mall
    after_two_hours = flows_of(warehouse)
    run_dbt("run", manifest, warehouse, FIRST - 1, 3, monkeypatch)
    after_three_hours = flows_of(warehouse)
    run_dbt("run", manifest, warehouse, SECOND, 1, monkeypatch)
    after_one_hour = flows_of(warehouse)
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
    others = [
        values[0]
        for key, values in flows.items()
        if key[:2] not in {("entrance-0", "corridor-0"), ("corridor-0", "store-0-in")}
    ]
    assert max(abs(value) for value in others) < 0.1


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
