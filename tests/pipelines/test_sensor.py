"""The landing-zone sensor: the right hours, the right run keys, never the same segment twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from individ.contract import Segment, Stream
from individ_pipelines.defs.landing.partitions import HOUR, partition_key
from individ_pipelines.defs.landing.sensors import SensorCursor, fingerprint, landing_watermark, plan_runs
from tests.pipelines import contract_data
from tests.pipelines.conftest import PipelineEnv, make_env

FIRST = contract_data.DAY.replace(hour=10)
RECENT_HOUR = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineEnv]:
    yield from make_env(tmp_path_factory.mktemp("sensor"))


def test_tick_requests_new_hours_once_and_late_segments_again(env: PipelineEnv) -> None:
    data = contract_data.simulate(env.config, FIRST, hours=2)
    contract_data.deliver(env.zone, data)
    first = env.sensor_tick(None)
    # Past data: final by lateness. Segments in 10h and 11h change 07h..11h (180-minute visit reach).
    assert len(first.run_requests or []) == 1
    request = (first.run_requests or [])[0]
    assert request.tags["dagster/asset_partition_range_start"] == partition_key(FIRST - 3 * HOUR)
    assert request.tags["dagster/asset_partition_range_end"] == partition_key(FIRST + HOUR)
    assert request.run_key and request.run_key.startswith(f"{partition_key(FIRST - 3 * HOUR)}..")
    # Evaluating from the same state gives the same key, which Dagster launches only once.
    assert [r.run_key for r in env.sensor_tick(None).run_requests or []] == [request.run_key]
    second = env.sensor_tick(first.cursor)
    assert not second.run_requests and second.skip_reason
    contract_data.deliver(env.zone, data)  # re-delivery: the same segment ids
    assert not env.sensor_tick(second.cursor).run_requests
    # A late segment for 11h: 08h..11h again, under a new key.
    late = env.zone.write(
        Stream.OCCURRENCES,
        {"camera_id": ["exit"], "observed_at": [FIRST + HOUR + dt.timedelta(minutes=5)], "group_id": [7],
         "direction": ["out"]},
        site_id=contract_data.SITE_ID, sensor_id="sensor-2",
    )  # fmt: skip
    third = env.sensor_tick(second.cursor)
    ranges = [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in third.run_requests or []
    ]
    assert ranges == [(partition_key(FIRST - 2 * HOUR), partition_key(FIRST + HOUR))]
    # Hour 11 is fed by the segments of 11h..14h: its fingerprint now counts the late one.
    feeding = [s.segment_id for st in Stream for s in env.zone.segments(st) if s.hour >= FIRST + HOUR]
    assert late[0].segment_id in feeding
    assert SensorCursor.parse(third.cursor).requested[partition_key(FIRST + HOUR)] == fingerprint(feeding)
    assert (third.run_requests or [])[0].run_key != request.run_key
    assert landing_watermark(env.zone, [s for st in Stream for s in env.zone.segments(st)]) == FIRST + 2 * HOUR


def _plan(cursor: SensorCursor, *, minutes_after: int, watermark_minutes: int | None) -> tuple[list, SensorCursor]:
    hour = RECENT_HOUR
    segment = Segment(Stream.OCCURRENCES, "occ-a", hour, "x")
    return plan_runs(
        [segment],
        cursor,
        now=hour + dt.timedelta(minutes=minutes_after),
        watermark=None if watermark_minutes is None else hour + dt.timedelta(minutes=watermark_minutes),
        max_lag_minutes=30,
        reach_minutes=30,
        lateness_minutes=120,
        first_hour=hour - 24 * HOUR,
    )


def test_recent_hour_waits_for_watermark_or_lateness() -> None:
    hour = RECENT_HOUR
    # Hour 10 needs events up to 11:30; hour 9 (whose 30-minute lookahead reaches 10h) up to 10:30.
    runs, _ = _plan(SensorCursor(), minutes_after=80, watermark_minutes=45)
    assert [(r.first, r.last) for r in runs] == [(hour - HOUR, hour - HOUR)]
    runs, cursor = _plan(SensorCursor(), minutes_after=80, watermark_minutes=91)
    assert [(r.first, r.last) for r in runs] == [(hour - HOUR, hour)]
    runs, _ = _plan(SensorCursor(), minutes_after=181, watermark_minutes=None)  # 11:00 + 120 min lateness
    assert [(r.first, r.last) for r in runs] == [(hour - HOUR, hour)]
    assert _plan(cursor, minutes_after=181, watermark_minutes=None)[0] == []
