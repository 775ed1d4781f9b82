"""Listing the landing zone by hour: only the folders asked for, with their modification times."""

import datetime as dt
import os
from pathlib import Path

import pytest

from individ.contract import LandingZone, Segment, Stream

from .conftest import HOUR, occurrence_rows

IDS = {"site_id": "demo-mall", "sensor_id": "edge-1"}
ONE_HOUR = dt.timedelta(hours=1)


def write_hours(zone: LandingZone, offsets: list[int]) -> list[Segment]:
    """One occurrence segment per hour offset from HOUR (2026-11-02 09h; offset 20 crosses into the 3rd)."""
    return [
        s
        for offset in offsets
        for s in zone.write(Stream.OCCURRENCES, occurrence_rows(start=HOUR + offset * ONE_HOUR), **IDS)
    ]


def test_segments_of_chosen_hours_only(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    written = write_hours(zone, [-30, -1, 0, 1, 20])
    by_hour = {segment.hour: segment for segment in written}
    wanted = [HOUR + ONE_HOUR, HOUR - ONE_HOUR, HOUR + 20 * ONE_HOUR, HOUR + 5 * ONE_HOUR]  # 14h has no folder
    assert zone.segments(Stream.OCCURRENCES, hours=wanted) == sorted(
        (by_hour[h] for h in wanted if h in by_hour), key=lambda s: s.hour
    )
    assert zone.segments(Stream.OCCURRENCES, hours=[]) == []
    # A local time names the same UTC hour.
    paris = (HOUR + ONE_HOUR).astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert zone.segments(Stream.OCCURRENCES, hours=[paris]) == [by_hour[HOUR + ONE_HOUR]]
    assert zone.segments(Stream.DEMOGRAPHICS, hours=wanted) == []
    assert zone.segments(Stream.OCCURRENCES) == sorted(written, key=lambda s: s.hour)


def test_segments_since_an_hour(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    written = write_hours(zone, [-30, -1, 0, 1, 20])
    assert zone.segments(Stream.OCCURRENCES, since=HOUR) == [s for s in written if s.hour >= HOUR]
    assert zone.segments(Stream.OCCURRENCES, since=HOUR + 21 * ONE_HOUR) == []
    assert zone.segments(Stream.HEARTBEATS, since=HOUR) == []
    with pytest.raises(ValueError, match="not both"):
        zone.segments(Stream.OCCURRENCES, hours=[HOUR], since=HOUR)


def test_listing_ignores_temporary_files_and_stray_folders(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    [segment] = write_hours(zone, [0])
    folder = Path(segment.path).parent
    (folder / ".tmp-half-written.parquet").write_bytes(b"PAR1")
    (folder.parent / "hour=xx").mkdir()
    (folder.parent.parent / "notes").mkdir()
    (folder.parent.parent / "date=2026-13-45").mkdir()
    assert zone.segments(Stream.OCCURRENCES, hours=[HOUR]) == [segment]
    assert zone.segments(Stream.OCCURRENCES, since=HOUR - ONE_HOUR) == [segment]
    assert [f.hour for f in zone.hour_folders(Stream.OCCURRENCES)] == [HOUR]


def test_hour_folders_report_when_a_segment_landed(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    written = write_hours(zone, [-1, 0, 1])
    folders = zone.hour_folders(Stream.OCCURRENCES, since=HOUR)
    assert [f.hour for f in folders] == [HOUR, HOUR + ONE_HOUR]
    assert all(f.stream is Stream.OCCURRENCES and f.modified_ns for f in folders)
    # Age every folder, then deliver a late segment into 09h: only that folder's time moves.
    for segment in written:
        os.utime(Path(segment.path).parent, ns=(1_000_000_000, 1_000_000_000))
    zone.write(Stream.OCCURRENCES, occurrence_rows(n=3), site_id="demo-mall", sensor_id="edge-2")
    after = {f.hour: f.modified_ns for f in zone.hour_folders(Stream.OCCURRENCES, since=HOUR)}
    assert after[HOUR + ONE_HOUR] == 1_000_000_000
    assert after[HOUR] is not None and after[HOUR] > 1_000_000_000
    assert zone.hour_folders(Stream.HEARTBEATS) == []
