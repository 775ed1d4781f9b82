"""Two consecutive hours through ingestion and dbt, in-process, against real DuckDB and real dbt.

One module-level pipeline run (costly: a full dbt build) feeds several assertions; the late-segment
test then re-runs an hour through the sensor's own run request.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest

from individ.contract import Stream
from individ_pipelines.defs.analytics.assets import WINDOW_END_ENV, WINDOW_START_ENV
from individ_pipelines.defs.landing import checks
from individ_pipelines.defs.landing.partitions import HOUR, partition_key
from individ_pipelines.warehouse import connect, snapshot_path
from tests.pipelines import contract_data
from tests.pipelines.conftest import FIRST, LAST, Materialized, PipelineEnv


def _query(env: PipelineEnv, sql: str, params: list[object] | None = None) -> list[tuple]:
    with connect(env.settings.warehouse_path, read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


def test_two_hours_are_ingested_and_modelled(materialized: Materialized) -> None:
    env, data = materialized.env, materialized.data
    assert materialized.result.success
    assert _query(env, "SELECT count(*) FROM raw.occurrences")[0][0] == data.occurrences.num_rows
    assert _query(env, "SELECT count(*) FROM raw.heartbeats")[0][0] == data.heartbeats.num_rows
    assert _query(env, "SELECT count(*) FROM raw.demographics")[0][0] == data.demographics.num_rows
    footfall = _query(
        env,
        "SELECT camera_id, sum(footfall) FROM marts.footfall_hourly WHERE hour_start >= ? AND hour_start < ? "
        "GROUP BY camera_id",
        [FIRST.replace(tzinfo=None), (LAST + HOUR).replace(tzinfo=None)],
    )
    assert {camera: round(total) for camera, total in footfall} == data.real_passes
    hours = _query(env, "SELECT DISTINCT hour_start FROM marts.flow_matrix_hourly ORDER BY 1")
    assert [h[0] for h in hours] == [FIRST.replace(tzinfo=None), LAST.replace(tzinfo=None)]
    # Every visitor goes entrance -> shop door in within minutes: the estimate finds most of them.
    flow = _query(
        env,
        "SELECT sum(estimated_flow), sum(flow_ci_low), sum(flow_ci_high) FROM marts.flow_matrix_hourly "
        "WHERE origin_camera_id = 'entrance' AND destination_camera_id = 'shop-in'",
    )[0]
    assert flow[1] <= data.real_passes["shop-in"] <= flow[2] or abs(flow[0] - data.real_passes["shop-in"]) < 60


def test_asset_checks_pass_on_good_data(materialized: Materialized) -> None:
    evaluations = materialized.result.get_asset_check_evaluations()
    by_name = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in evaluations}
    for name in (checks.CONTRACT_CHECK,):
        for stream in Stream:
            assert by_name[(f"raw/{stream.value}", name)]
    for name in (checks.FRESHNESS_CHECK, checks.OUTAGE_CHECK, checks.FICTITIOUS_CHECK):
        assert by_name[("raw/heartbeats", name)], name
    assert by_name[("raw/occurrences", checks.COMPLETENESS_CHECK)]
    dbt_checks = [e for e in evaluations if e.asset_key.path[0] != "raw"]
    assert dbt_checks and all(e.passed for e in dbt_checks)


def test_malformed_segment_is_quarantined_and_logged(materialized: Materialized) -> None:
    reasons = materialized.env.zone.quarantined()
    assert [r["segment"].rsplit("/", 1)[-1] for r in reasons] == [f"{materialized.malformed}.parquet"]
    messages = [
        event.message
        for event in materialized.result.all_events
        if event.event_type_value == "ENGINE_EVENT" or event.is_step_event
    ]
    logs = materialized.env.instance.all_logs(materialized.result.run_id)
    assert any(materialized.malformed in (log.user_message or "") for log in logs), messages[:3]


def test_redelivered_segment_counts_once(materialized: Materialized) -> None:
    env, data = materialized.env, materialized.data
    again = contract_data.deliver(env.zone, data, [Stream.OCCURRENCES])
    assert {s.segment_id for s in again} <= {s.segment_id for s in materialized.segments}
    assert env.run_hours(FIRST, FIRST, ingestion_only=True).success
    assert _query(env, "SELECT count(*) FROM raw.occurrences")[0][0] == data.occurrences.num_rows
    assert snapshot_path(env.settings.warehouse_path).exists()


def test_late_segment_rematerializes_its_hour(materialized: Materialized) -> None:
    from individ_pipelines.defs.landing.sensors import SensorCursor, plan_runs

    env = materialized.env
    segments = [s for stream in Stream for s in env.zone.segments(stream)]
    # The sensor has requested everything present so far...
    now = LAST + dt.timedelta(days=1)
    _, cursor = plan_runs(
        segments, SensorCursor(), now=now, watermark=None, max_lag_minutes=30, reach_minutes=180,
        first_hour=FIRST - 24 * HOUR, lateness_minutes=120,
    )  # fmt: skip
    # ...then a late segment of 25 passes at the entrance arrives for hour 10.
    late_times = [FIRST + dt.timedelta(minutes=2 * i) for i in range(25)]
    late = env.zone.write(
        Stream.OCCURRENCES,
        {
            "camera_id": ["entrance"] * 25,
            "observed_at": late_times,
            "group_id": list(range(25)),
            "direction": ["in"] * 25,
        },
        site_id=contract_data.SITE_ID,
        sensor_id="sensor-2",
    )
    segments += late
    requests, _ = plan_runs(
        segments, cursor, now=now, watermark=None, max_lag_minutes=30, reach_minutes=180,
        first_hour=FIRST - 24 * HOUR, lateness_minutes=120,
    )  # fmt: skip
    assert [(r.first, r.last) for r in requests] == [(FIRST - 3 * HOUR, FIRST)]
    before = _entrance_footfall(env)
    run = env.run_hours(requests[0].first, requests[0].last)
    assert run.success
    assert _entrance_footfall(env) == pytest.approx(before + 25)
    assert partition_key(FIRST) in requests[0].run_key
    # dbt was handed exactly the requested hours (through the environment, restored after the run).
    window = _query(env, "SELECT requested_start, requested_end FROM intermediate.int_run_window")
    assert window == [((FIRST - 3 * HOUR).replace(tzinfo=None), (FIRST + HOUR).replace(tzinfo=None))]
    assert WINDOW_START_ENV not in os.environ and WINDOW_END_ENV not in os.environ


def _entrance_footfall(env: PipelineEnv) -> float:
    return _query(
        env,
        "SELECT sum(footfall) FROM marts.footfall_hourly WHERE camera_id = 'entrance' AND hour_start = ?",
        [FIRST.replace(tzinfo=None)],
    )[0][0]
