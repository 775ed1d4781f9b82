"""The landing sensor's cursor: a fingerprint per hour instead of the segment ids, with the same behaviour.

Per hour the cursor keeps the fingerprint of the segments feeding it, so a re-delivered segment triggers
nothing, a late one re-requests exactly the hours it feeds, a quarantined one re-requests them too, and a
tick that lists only the changed folders fingerprints the same sets as one that lists everything.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path

import pytest

from individ.contract import HourFolder, LandingZone, Segment, Stream
from individ_pipelines.defs.landing.partitions import HOUR, partition_key
from individ_pipelines.defs.landing.sensors import (
    RETENTION,
    HourRangeRequest,
    Listing,
    SensorCursor,
    fingerprint,
    hours_changed_by,
    list_candidates,
    plan_runs,
    settle_folders,
)

REACH = 180  # the visit lag: a segment feeds its hour and the three before
FIRST_PARTITION = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
START = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
HOURS = 12


def _pass_at(zone: LandingZone, when: dt.datetime, *, group: int = 7) -> Segment:
    [segment] = zone.write(
        Stream.OCCURRENCES,
        {"camera_id": ["exit"], "observed_at": [when], "group_id": [group], "direction": ["out"]},
        site_id="test-mall",
        sensor_id="sensor-1",
    )
    return segment


def _age_every_folder(zone: LandingZone) -> None:
    """Pretend every segment landed an hour ago, so that a tick may settle its hour."""
    an_hour_ago = int((dt.datetime.now(dt.UTC) - HOUR).timestamp()) * 1_000_000_000
    for folder in zone.hour_folders(Stream.OCCURRENCES):
        path = Path(zone.root) / Stream.OCCURRENCES.value / f"date={folder.hour:%Y-%m-%d}" / f"hour={folder.hour:%H}"
        os.utime(path, ns=(an_hour_ago, an_hour_ago))


def _history(zone: LandingZone) -> list[Segment]:
    """Two passes an hour for HOURS hours from START, every folder aged."""
    segments = [
        _pass_at(zone, START + index * HOUR + dt.timedelta(minutes=minute), group=index)
        for index in range(HOURS)
        for minute in (10, 40)
    ]
    _age_every_folder(zone)
    return segments


def _tick(zone: LandingZone, cursor: SensorCursor) -> tuple[list[HourRangeRequest], SensorCursor, Listing]:
    """One evaluation as the sensor runs it, on past data (every hour final by lateness)."""
    now = dt.datetime.now(dt.UTC)
    listing = list_candidates(zone, cursor, FIRST_PARTITION, reach_minutes=REACH)
    requests, planned = plan_runs(
        listing.segments, cursor, now=now, watermark=None, max_lag_minutes=30, reach_minutes=REACH,
        lateness_minutes=120, first_hour=FIRST_PARTITION, newest_hour=listing.newest_hour, hours=listing.hours,
    )  # fmt: skip
    return requests, settle_folders(planned, listing, listed_at=now, reach_minutes=REACH), listing


def _from_scratch(zone: LandingZone) -> SensorCursor:
    """The cursor planned from a full listing of the landing zone, with no history."""
    segments = zone.segments(Stream.OCCURRENCES)
    _, cursor = plan_runs(
        segments, SensorCursor(), now=dt.datetime.now(dt.UTC), watermark=None, max_lag_minutes=30,
        reach_minutes=REACH, lateness_minutes=120, first_hour=FIRST_PARTITION,
    )  # fmt: skip
    return cursor


def test_a_week_of_per_minute_segments_from_four_sensors_keeps_the_cursor_small() -> None:
    # Segment ids in the contract's shape; no files: the cursor does not depend on their content.
    newest = dt.datetime(2026, 11, 8, 23, tzinfo=dt.UTC)
    hours = [newest - back * HOUR for back in range(int(RETENTION / HOUR) + 1)]
    per_hour = {Stream.OCCURRENCES: 60, Stream.HEARTBEATS: 60, Stream.DEMOGRAPHICS: 4}
    segments = [
        Segment(stream, f"{stream.value[:3]}-sensor-{sensor}-{hour:%Y%m%dT%H}-{flush:020x}", hour, "")
        for hour in hours
        for stream, flushes in per_hour.items()
        for sensor in range(4)
        for flush in range(flushes)
    ]
    assert len(segments) == 169 * 4 * 124
    requests, cursor = plan_runs(
        segments, SensorCursor(), now=newest + 24 * HOUR, watermark=None, max_lag_minutes=30, reach_minutes=REACH,
        lateness_minutes=120, first_hour=FIRST_PARTITION,
    )  # fmt: skip
    assert [(r.first, r.last) for r in requests] == [
        (newest - 168 * HOUR + start * HOUR, min(newest, newest - 168 * HOUR + (start + 23) * HOUR))
        for start in range(0, 169, 24)
    ]
    an_hour_ago = int((dt.datetime.now(dt.UTC) - HOUR).timestamp()) * 1_000_000_000
    folders = [HourFolder(stream, hour, an_hour_ago) for hour in hours for stream in Stream]
    listing = Listing(segments, sorted(hours), folders, newest)
    cursor = settle_folders(cursor, listing, listed_at=dt.datetime.now(dt.UTC), reach_minutes=REACH)
    assert len(cursor.requested) == len(cursor.settled) == 169
    # The newest hour is fed by its own 496 segments; the oldest by those of its hour and the next three.
    assert cursor.requested[partition_key(newest)].startswith("496:")
    assert cursor.requested[partition_key(hours[-1])].startswith(f"{4 * 496}:")
    text = cursor.serialize()
    assert len(text.encode()) < 20_000  # the segment ids alone were about 14 MB
    assert SensorCursor.parse(text) == cursor


def test_an_identical_segment_delivered_again_triggers_nothing(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    segments = _history(zone)
    requests, cursor, _ = _tick(zone, SensorCursor())
    assert [(r.first, r.last) for r in requests] == [(START - 3 * HOUR, START + (HOURS - 1) * HOUR)]
    assert set(cursor.settled) == {partition_key(START + index * HOUR) for index in range(HOURS)}

    again = _pass_at(zone, START + 5 * HOUR + dt.timedelta(minutes=10), group=5)  # same rows: same id
    assert again == segments[10]
    requests, after, listing = _tick(zone, cursor)
    # The file was replaced, so its folder's time changed: the hours it feeds were fingerprinted again...
    assert listing.hours == [START + (5 - back) * HOUR for back in (3, 2, 1, 0)]
    assert requests == [] and after.requested == cursor.requested
    # ...and, once quiet, its hour settles again.
    assert partition_key(START + 5 * HOUR) not in after.settled
    _age_every_folder(zone)
    requests, settled, _ = _tick(zone, after)
    assert requests == [] and settled.requested == cursor.requested and settled.settled.keys() == cursor.settled.keys()


def test_a_late_segment_re_requests_exactly_the_hours_it_feeds_once(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    _history(zone)
    _, cursor, _ = _tick(zone, SensorCursor())

    late = _pass_at(zone, START + 4 * HOUR + dt.timedelta(minutes=50), group=999)
    requests, after, listing = _tick(zone, cursor)
    assert [(r.first, r.last) for r in requests] == [(START + HOUR, START + 4 * HOUR)]
    # Only hour 4's folders changed, yet the fingerprints are those of a full listing: every folder feeding
    # hours 1..4 (hours 1..7) was listed.
    assert {segment.hour for segment in listing.segments} == {START + index * HOUR for index in range(1, 8)}
    assert after.requested == _from_scratch(zone).requested
    changed = {key for key in after.requested if after.requested[key] != cursor.requested[key]}
    assert changed == {partition_key(hour) for hour in hours_changed_by(late.hour, REACH, START)}
    # The same tick evaluated again asks for the same key (Dagster launches it once); the next asks nothing.
    assert [r.run_key for r in _tick(zone, cursor)[0]] == [requests[0].run_key]
    assert _tick(zone, after)[0] == []


def test_a_quarantined_segment_re_requests_the_hours_it_fed(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    segments = _history(zone)
    _, cursor, _ = _tick(zone, SensorCursor())
    zone.quarantine(segments[4], "malformed")  # hour 2
    requests, after, _ = _tick(zone, cursor)
    assert [(r.first, r.last) for r in requests] == [(START - HOUR, START + 2 * HOUR)]
    assert after.requested[partition_key(START + 2 * HOUR)].startswith("7:")  # hours 2..5, one segment less
    assert _tick(zone, after)[0] == []


def _version_1_cursor(zone: LandingZone, horizon: dt.datetime) -> str:
    """The cursor the sensor wrote before fingerprints, once every present segment had been requested:
    the ids that triggered each hour and the time of every settled stream folder."""
    requested: dict[str, list[str]] = {}
    for segment in zone.segments(Stream.OCCURRENCES):
        for hour in hours_changed_by(segment.hour, REACH, horizon):
            requested.setdefault(partition_key(hour), []).append(segment.segment_id)
    settled = {
        f"{folder.stream.value}/{partition_key(folder.hour)}": folder.modified_ns
        for folder in zone.hour_folders(Stream.OCCURRENCES)
    }
    return json.dumps({"horizon": horizon.isoformat(), "requested": requested, "settled": settled})


def test_a_version_1_cursor_is_converted_without_requesting_anything_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    zone = LandingZone(tmp_path)
    _history(zone)
    log = logging.getLogger("test_sensor_cursor")
    with caplog.at_level(logging.INFO, logger=log.name):
        cursor = SensorCursor.parse(_version_1_cursor(zone, FIRST_PARTITION), log)
    assert "converted a version 1 cursor" in caplog.text
    assert cursor.requested == _from_scratch(zone).requested
    requests, after, listing = _tick(zone, cursor)
    assert requests == [] and listing.hours == []  # every hour settled: nothing even listed
    _pass_at(zone, START + 4 * HOUR + dt.timedelta(minutes=50), group=999)
    assert [(r.first, r.last) for r in _tick(zone, after)[0]] == [(START + HOUR, START + 4 * HOUR)]


def test_a_cursor_of_an_unknown_version_is_refused_with_the_way_out() -> None:
    with pytest.raises(ValueError, match="sensor cursor landing_zone_sensor --delete"):
        SensorCursor.parse(json.dumps({"version": 99, "horizon": None}))


def test_a_fingerprint_is_of_the_set() -> None:
    assert fingerprint(["b", "a", "a"]) == fingerprint(["a", "b"]) != fingerprint(["a"])
    assert fingerprint(["a", "b"]).startswith("2:") and len(fingerprint(["a", "b"])) == 2 + 32
