"""Heartbeats must not tell which minutes held real persons: what follows the persons is a camera-hour total.

A privacy review drove the Emitter over a quiet hour at a store door (6 real visitors among about 2,700
fictitious rows spread evenly over the hour). With per-minute persons_detected and occurrences_emitted,
keeping only the occurrence rows of the minutes where persons were seen shrank the hour to 333 rows
holding all 6 real ones, 4 of them alone in their (camera, hour, group) cell. These tests drive the real
Emitter through such an hour, frame by frame, with load shedding and latency that grow with the persons
in view as on a live camera.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from individ.contract import HEARTBEAT_HOUR_TOTALS, Stream
from individ.site_config import Camera, PrivacyParameters

from .emitters import HOLD, build_emitter

HOUR = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)
FPS = 5
IN_VIEW_SECONDS = 5  # a visitor is in view this long; the track ends 1 s later, the pass is at +2 s
# Six visitors, never two at once and none in the hour's last minute; the second set at other minutes.
ARRIVALS = (312.0, 845.0, 1377.0, 2001.0, 2650.0, 3188.0)
OTHER_ARRIVALS = (95.0, 700.0, 1200.0, 1800.0, 2400.0, 3000.0)


@dataclass
class QuietHour:
    occurrences: list[tuple[dt.datetime, int]]  # (observed_at, group) of the hour's rows, real and fictitious
    real: list[tuple[dt.datetime, int]]
    heartbeats: list[dict[str, Any]]  # the hour's rows, by minute
    frames_processed: int
    frames_dropped: int
    persons_detected: int
    latencies_ms: list[float]


def quiet_hour(tmp_path: Path, arrivals: tuple[float, ...]) -> QuietHour:
    """One hour at a store door (300 expected passes/h: 2.7 fictitious persons per group) through the real Emitter."""
    camera = Camera(id="door", source="door.mp4", role="store_door_in", expected_passes_per_hour=300)
    privacy = PrivacyParameters.model_validate({"fictitious": {"min_members": 3}})
    built = build_emitter(tmp_path, camera, privacy)
    emitter, writer, landing, counters = built.emitter, built.writer, built.landing, built.counters
    groups = np.random.default_rng(3).integers(0, 1000, size=len(arrivals))
    track_ends = {round((a + IN_VIEW_SECONDS + 1) * FPS): i for i, a in enumerate(arrivals)}
    real, latencies = [], []
    processed = dropped = persons = idle = 0
    for step in range(3600 * FPS):
        second = step / FPS
        now = HOUR + dt.timedelta(seconds=second)
        in_view = sum(1 for a in arrivals if a <= second < a + IN_VIEW_SECONDS)
        # Frames into the current visit (visitors never overlap), so the hour's frames do not depend on when.
        into_visit = max((step - round(a * FPS) for a in arrivals if a <= second < a + IN_VIEW_SECONDS), default=0)
        counters.add(now, "frames_read")
        if step in track_ends:
            index = track_ends[step]
            observed = HOUR + dt.timedelta(seconds=arrivals[index] + 2)
            emitter.occurrence("door", observed, int(groups[index]), "in")
            real.append((observed.replace(microsecond=0), int(groups[index])))
        if in_view and into_visit % 4 == 3:  # the processor falls behind while someone is in view: a frame is shed
            counters.add(now, "frames_dropped")
            dropped += 1
            continue
        # More work with a person in view; the jitter follows the frame's place in its visit or idle stretch.
        latency = 26.0 + into_visit % 3 if in_view else 20.0 + idle % 7 * 0.5
        idle += not in_view
        emitter.frame_processed("door", now, in_view, latency)
        processed += 1
        persons += in_view
        latencies.append(latency)
    emitter.advance("door", HOUR + dt.timedelta(hours=1, seconds=HOLD.seconds + 1))  # all released
    writer.flush()
    end = pa.scalar(HOUR + dt.timedelta(hours=1), pa.timestamp("ms", tz="UTC"))
    occurrences = pa.concat_tables([landing.read(s) for s in landing.segments(Stream.OCCURRENCES)])
    occurrences = occurrences.filter(pa.compute.less(pa.compute.field("observed_at"), end))
    heartbeats = pa.concat_tables([landing.read(s) for s in landing.segments(Stream.HEARTBEATS)])
    heartbeats = heartbeats.filter(pa.compute.less(pa.compute.field("minute_start"), end))
    rows = sorted(heartbeats.drop_columns(["segment_id"]).to_pylist(), key=lambda row: row["minute_start"])
    times, occurrence_groups = occurrences.column("observed_at").to_pylist(), occurrences.column("group_id").to_pylist()
    return QuietHour(
        list(zip(times, occurrence_groups, strict=True)),
        real,
        rows,
        processed,
        dropped,
        persons,
        latencies,
    )


@pytest.fixture(scope="module")
def hour(tmp_path_factory: pytest.TempPathFactory) -> QuietHour:
    return quiet_hour(tmp_path_factory.mktemp("quiet_hour"), ARRIVALS)


def shows_persons(row: dict[str, Any]) -> bool:
    return any(row[name] not in (0, None) for name in HEARTBEAT_HOUR_TOTALS)


def test_only_the_hours_closing_row_carries_what_follows_the_persons(hour: QuietHour) -> None:
    minutes = [row["minute_start"] for row in hour.heartbeats]
    assert minutes == [HOUR + dt.timedelta(minutes=m) for m in range(60)]
    for row in hour.heartbeats[:-1]:
        assert not shows_persons(row), row
    # Camera health keeps its minutes: frames read, status, plan and key epoch are there for every one.
    assert {row["frames_read"] for row in hour.heartbeats} == {60 * FPS}
    assert {(row["stream_status"], row["lsh_key_epoch"]) for row in hour.heartbeats} == {("ok", 1)}
    assert {row["fictitious_plan_per_group"] for row in hour.heartbeats} == {2.7}
    # The closing row holds the hour's totals: exactly what was emitted and measured.
    closing = hour.heartbeats[-1]
    real = set(hour.real)
    assert closing["occurrences_emitted"] == len(hour.real) == len(ARRIVALS)
    assert closing["fictitious_emitted"] == sum(row not in real for row in hour.occurrences) > 2000
    assert closing["frames_processed"] == hour.frames_processed
    assert closing["frames_dropped"] == hour.frames_dropped > 0
    assert closing["persons_detected"] == hour.persons_detected > 0
    # Percentiles over every frame of the hour, not a summary of minute percentiles.
    assert closing["latency_p50_ms"] == pytest.approx(np.percentile(hour.latencies_ms, 50))
    assert closing["latency_p99_ms"] == pytest.approx(np.percentile(hour.latencies_ms, 99))


def test_the_minute_leak_attack_finds_no_reduction(hour: QuietHour, tmp_path: Path) -> None:
    """The review's attack: keep the occurrence rows of the minutes whose heartbeat shows persons."""
    # The heartbeats are the same whenever in the hour the visitors came: nothing in them follows the minutes.
    elsewhere = quiet_hour(tmp_path, OTHER_ARRIVALS)
    assert {row for row in elsewhere.real} != set(hour.real)
    assert elsewhere.heartbeats == hour.heartbeats
    active = {row["minute_start"] for row in hour.heartbeats if shows_persons(row)}
    assert active == {HOUR + dt.timedelta(minutes=59)}  # the hour's closing row, whatever the persons did
    candidates = [row for row in hour.occurrences if row[0].replace(second=0) in active]
    for observed_at, group in hour.real:
        members = [row for row in hour.occurrences if row[1] == group]
        kept = [row for row in members if row in candidates]
        # A cell is never narrowed around its real row: the filter keeps all of its members or drops the real one.
        assert (observed_at, group) not in kept or kept == members
