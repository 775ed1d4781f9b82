"""The landing sensor lists only what can still trigger a run, and still sees late and repeated segments.

Folders are aged with ``os.utime`` so that a tick may settle their hours (a folder changed within
SETTLE_MARGIN of a tick is always listed again).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyarrow.fs as pafs
import pytest

from individ.contract import LandingZone, Segment, Stream
from individ_pipelines.defs.landing.partitions import HOUR, partition_key
from individ_pipelines.defs.landing.sensors import (
    HourRangeRequest,
    Listing,
    SensorCursor,
    fingerprint,
    list_candidates,
    plan_runs,
    settle_folders,
)
from tests.contract.test_object_store import s3_endpoint  # noqa: F401 (a fixture)
from tests.pipelines import contract_data
from tests.pipelines.conftest import PipelineEnv, make_env

FIRST = contract_data.DAY.replace(hour=10)
OLD = FIRST - 2 * 24 * HOUR  # two days before the newest data: inside the sensor's 7-day retention
FIRST_PARTITION = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineEnv]:
    yield from make_env(tmp_path_factory.mktemp("sensor_listing"))


def _ranges(result: dg.SensorResult) -> list[tuple[str, str]]:
    return [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in result.run_requests or []
    ]


def _age_every_folder(zone: LandingZone) -> None:
    """Pretend every segment landed an hour ago."""
    an_hour_ago = int((dt.datetime.now(dt.UTC) - HOUR).timestamp()) * 1_000_000_000
    for stream in Stream:
        for segment in zone.segments(stream):
            os.utime(Path(segment.path).parent, ns=(an_hour_ago, an_hour_ago))


def _pass_at(zone: LandingZone, when: dt.datetime) -> list[Segment]:
    """One pass at the exit, delivered alone (as a late or re-delivered segment would be)."""
    return zone.write(
        Stream.OCCURRENCES,
        {"camera_id": ["exit"], "observed_at": [when], "group_id": [7], "direction": ["out"]},
        site_id=contract_data.SITE_ID,
        sensor_id="sensor-2",
    )


def _plan(listing: Listing, cursor: SensorCursor, *, now: dt.datetime) -> tuple[list[HourRangeRequest], SensorCursor]:
    """plan_runs with a 30-minute reach (one hour of lookahead) and no watermark: final by lateness."""
    return plan_runs(
        listing.segments, cursor, now=now, watermark=None, max_lag_minutes=30, reach_minutes=30,
        lateness_minutes=120, first_hour=FIRST_PARTITION, newest_hour=listing.newest_hour, hours=listing.hours,
    )  # fmt: skip


def test_settled_folders_are_skipped_and_late_or_repeated_segments_behave(env: PipelineEnv) -> None:
    zone = env.zone
    contract_data.deliver(zone, contract_data.simulate(env.config, FIRST, hours=2))
    [old] = _pass_at(zone, OLD + dt.timedelta(minutes=5))
    _age_every_folder(zone)

    first = env.sensor_tick(None)
    # Past data, final by lateness; each segment changes its hour and the 3 before (180-minute visit reach).
    assert _ranges(first) == [
        (partition_key(OLD - 3 * HOUR), partition_key(OLD)),
        (partition_key(FIRST - 3 * HOUR), partition_key(FIRST + HOUR)),
    ]
    cursor = SensorCursor.parse(first.cursor)
    every_hour = {partition_key(s.hour) for stream in Stream for s in zone.segments(stream)}
    assert set(cursor.settled) == every_hour

    # Nothing changed: a tick reads only the two newest heartbeat hours (for the watermark).
    listing = list_candidates(zone, cursor, FIRST_PARTITION, reach_minutes=180)
    assert listing.folders == [] and listing.hours == []
    assert {(s.stream, s.hour) for s in listing.segments} == {
        (Stream.HEARTBEATS, FIRST),
        (Stream.HEARTBEATS, FIRST + HOUR),
    }
    second = env.sensor_tick(first.cursor)
    assert not second.run_requests

    # A late segment for the old hour changes its folder's time: the next tick sees it and re-runs
    # the old hour and the three before it, under a new key.
    [late] = _pass_at(zone, OLD + dt.timedelta(minutes=20))
    assert late.hour == OLD and late.segment_id != old.segment_id
    third = env.sensor_tick(second.cursor)
    assert _ranges(third) == [(partition_key(OLD - 3 * HOUR), partition_key(OLD))]
    after = SensorCursor.parse(third.cursor)
    assert after.requested[partition_key(OLD)] == fingerprint([old.segment_id, late.segment_id])
    # Just changed: not settled yet, so the next ticks list it again, and request nothing twice.
    assert partition_key(OLD) not in after.settled
    fourth = env.sensor_tick(third.cursor)
    assert not fourth.run_requests

    # The same segment delivered again (same content, same id) replaces the file: listed, never re-run.
    assert _pass_at(zone, OLD + dt.timedelta(minutes=20)) == [late]
    _age_every_folder(zone)
    fifth = env.sensor_tick(fourth.cursor)
    assert not fifth.run_requests
    assert partition_key(OLD) in SensorCursor.parse(fifth.cursor).settled


def test_a_folder_settles_only_once_every_segment_was_requested(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    [segment] = _pass_at(zone, FIRST)
    _age_every_folder(zone)
    listing = list_candidates(zone, SensorCursor(), FIRST_PARTITION, reach_minutes=30)
    assert listing.segments == [segment] and listing.newest_hour == FIRST
    assert listing.hours == [FIRST - HOUR, FIRST]
    # Hour 10 is not final yet at 11:30: nothing requested, so the folder stays unsettled...
    requests, cursor = _plan(listing, SensorCursor(), now=FIRST + dt.timedelta(minutes=90))
    assert requests == []
    aged = dt.datetime.now(dt.UTC)
    assert settle_folders(cursor, listing, listed_at=aged, reach_minutes=30).settled == {}
    # ...and settles once hour 10 (and hour 9, which its lookahead reaches) has been requested.
    requests, cursor = _plan(listing, cursor, now=FIRST + 4 * HOUR)
    assert [(r.first, r.last) for r in requests] == [(FIRST - HOUR, FIRST)]
    settled = settle_folders(cursor, listing, listed_at=aged, reach_minutes=30).settled
    assert list(settled) == [partition_key(FIRST)]
    # A folder changed within the margin of the listing is not settled, whatever was requested.
    [folder] = listing.folders
    assert folder.modified_ns is not None
    just_now = dt.datetime.fromtimestamp(folder.modified_ns / 1e9, dt.UTC)
    assert settle_folders(cursor, listing, listed_at=just_now, reach_minutes=30).settled == {}


def test_object_store_lists_every_folder_from_the_horizon(s3_endpoint: str) -> None:  # noqa: F811
    uri = f"s3://key:secret@sensor-bucket/site?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    filesystem, _ = pafs.FileSystem.from_uri(uri + "&allow_bucket_creation=true")
    filesystem.create_dir("sensor-bucket")
    zone = LandingZone(uri)
    ancient = _pass_at(zone, FIRST - 10 * 24 * HOUR)  # older than the retention: ignored
    recent = _pass_at(zone, OLD) + _pass_at(zone, FIRST)
    listing = list_candidates(zone, SensorCursor(), FIRST_PARTITION, reach_minutes=30)
    assert listing.segments == recent and listing.folders == [] and ancient[0] not in listing.segments
    requests, cursor = _plan(listing, SensorCursor(), now=FIRST + 24 * HOUR)
    assert [(r.first, r.last) for r in requests] == [(OLD - HOUR, OLD), (FIRST - HOUR, FIRST)]
    # Nothing settles without folder times; the next tick lists the same and requests nothing.
    listing = list_candidates(zone, cursor, FIRST_PARTITION, reach_minutes=30)
    assert listing.segments == recent
    assert _plan(listing, cursor, now=FIRST + 24 * HOUR)[0] == []
