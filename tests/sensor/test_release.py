"""Rows leave the sensor by closed time slices: the segment a row lands in says nothing about its kind.

A real pass reaches the emitter only when its track ends, seconds after its time; fictitious rows are due
when their time comes. Released as they arrived, a segment would hold real rows timed before the latest
row of the segment before it: certainly real. These tests drive the real Emitter, BufferedWriter (and, for
a lingering person, the real CameraPipeline and tracker) the way the service does.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from individ.contract import LandingZone, Stream
from individ.site_config import Camera, PrivacyParameters
from sensors.emitter import Emitter
from sensors.pipeline import CameraPipeline, VisionModels
from sensors.privacy.grouping import GroupAssigner
from sensors.privacy.keys import EpochKeys, SiteSecret
from sensors.settings import TrackingSettings
from sensors.sources import Frame
from sensors.vision.demographics import DemographicGuess
from sensors.vision.detections import Detections
from sensors.writer import BufferedWriter

from .conftest import START
from .emitters import HOLD, LINE, build_emitter

DOOR = Camera(id="door", source="x.mp4", role="entrance", expected_passes_per_hour=600, counting_line=LINE)


def make(tmp_path: Path, min_members: float = 3.0, hold: dt.timedelta = HOLD) -> tuple[Emitter, BufferedWriter]:
    params = PrivacyParameters.model_validate({"fictitious": {"min_members": min_members}})
    built = build_emitter(tmp_path, DOOR, params, hold=hold)
    return built.emitter, built.writer


def segment_tables(tmp_path: Path, stream: Stream) -> list[pa.Table]:
    landing = LandingZone(tmp_path / "landing")
    return [landing.read(segment) for segment in landing.segments(stream)]


def late_dropped(emitter: Emitter) -> float:
    return emitter.metrics.registry.get_sample_value("individ_sensor_late_passes_dropped_total") or 0.0


def test_no_segment_holds_a_row_timed_before_the_end_of_an_earlier_segment(tmp_path: Path) -> None:
    """The privacy review's attack (/tmp/dpo/seg_leak.py): 26 of 26 rows it flagged were real before the fix."""
    emitter, writer = make(tmp_path)
    rng = np.random.default_rng(2)
    real: set[tuple[dt.datetime, int]] = set()
    pending: list[tuple[dt.datetime, dt.datetime, int, str]] = []  # (track end, crossing time, group, direction)
    watermarks: list[tuple[dt.datetime, int]] = []  # after each flush: heartbeat end, rows stored before it
    for step in range(10 * 60 * 24):  # 24 minutes at 10 frames/s
        now = START + dt.timedelta(seconds=step / 10)
        if rng.random() < 0.02:  # a person crosses now, stays in view 3-8 s; the track ends 1 s later
            direction = str(rng.choice(["in", "in", "in", "out", "unknown"]))
            pending.append((now + dt.timedelta(seconds=rng.uniform(4, 9)), now, int(rng.integers(1000)), direction))
        for person in [p for p in pending if p[0] <= now]:
            pending.remove(person)
            emitter.occurrence("door", person[1], person[2], person[3])
            real.add((person[1].replace(microsecond=0), person[2]))
        emitter.frame_processed("door", now, 1, 30.0)
        if step % 600 == 599:  # the service flushes every 60 s
            writer.flush()
            watermarks.extend(_watermark(tmp_path))
    emitter.close("door", True)
    writer.flush()

    segments = sorted(
        segment_tables(tmp_path, Stream.OCCURRENCES), key=lambda t: min(t.column("observed_at").to_pylist())
    )
    assert len(segments) >= 20
    spans = [(min(t.column("observed_at").to_pylist()), max(t.column("observed_at").to_pylist())) for t in segments]
    assert all(earlier[1] < later[0] for earlier, later in itertools.pairwise(spans))  # closed slices
    stored = {
        (when, group)
        for table in segments
        for when, group in zip(
            table.column("observed_at").to_pylist(), table.column("group_id").to_pylist(), strict=True
        )
    }
    assert real <= stored and late_dropped(emitter) == 0  # every real pass made it, in its own slice
    # Heartbeats leave with their minute's occurrences: the landing zone's watermark stays true.
    final = [when for table in segments for when in table.column("observed_at").to_pylist()]
    for heartbeat_end, rows_before in watermarks:
        assert rows_before == sum(when < heartbeat_end for when in final)


def _watermark(tmp_path: Path) -> list[tuple[dt.datetime, int]]:
    """The end of the latest heartbeat minute stored, and the occurrences stored before it (none before a hold)."""
    heartbeats = segment_tables(tmp_path, Stream.HEARTBEATS)
    if not heartbeats:
        return []
    end = max(max(t.column("minute_start").to_pylist()) for t in heartbeats) + dt.timedelta(minutes=1)
    rows = sum(
        sum(when < end for when in t.column("observed_at").to_pylist())
        for t in segment_tables(tmp_path, Stream.OCCURRENCES)
    )
    return [(end, rows)]


def test_a_pass_arriving_after_its_slice_left_is_dropped_not_released_late(tmp_path: Path) -> None:
    emitter, writer = make(tmp_path, min_members=0)
    emitter.advance("door", START)
    emitter.advance("door", START + dt.timedelta(minutes=10))  # rows before 09:08 have left
    emitter.occurrence("door", START + dt.timedelta(minutes=7), 5, "in")
    emitter.occurrence("door", START + dt.timedelta(minutes=9), 6, "in")
    emitter.close("door", False)
    writer.flush()
    (table,) = segment_tables(tmp_path, Stream.OCCURRENCES)
    assert table.column("group_id").to_pylist() == [6]
    assert late_dropped(emitter) == 1


def test_late_passes_are_logged_once_per_camera_hour_and_without_their_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A log line per late pass would time each real person at the camera."""
    emitter, _ = make(tmp_path, min_members=0)
    emitter.advance("door", START)
    emitter.advance("door", START + dt.timedelta(minutes=10))
    with caplog.at_level(logging.WARNING, logger="sensors.emitter"):
        for minute in (1, 2, 3):
            emitter.occurrence("door", START + dt.timedelta(minutes=minute, seconds=17), 5, "in")
    assert late_dropped(emitter) == 3
    (record,) = caplog.records
    assert "17" not in record.getMessage() and START.strftime("%H:%M") not in record.getMessage()


class WalkThenStand:
    """A scripted detector: one person walks down across the counting line, then stands still in view."""

    def __init__(self, walk_frames: int) -> None:
        self.walk_frames = walk_frames
        self.frame = 0

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        step = min(self.frame, self.walk_frames - 1)
        self.frame += 1
        bottom = 150 + 300 * step / (self.walk_frames - 1)  # the line is at y = 0.6 x 480 = 288
        return Detections(np.array([[300, bottom - 120, 340, bottom]], np.float32), np.ones(1, np.float32))


class SameGuess:
    def estimate(self, frame_bgr: np.ndarray, person_box_xyxy: np.ndarray) -> DemographicGuess:
        return DemographicGuess("28-37", "female")


class RandomEmbedder:
    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def embed(self, frame_bgr: np.ndarray, person_box_xyxy: np.ndarray) -> np.ndarray:
        return self.rng.standard_normal(1024).astype(np.float32)


def lingering_person(tmp_path: Path, pass_deadline_seconds: float | None) -> tuple[Emitter, list[pa.Table]]:
    """A person crosses at ~1.5 s and stands in view for 3 minutes; hold 60 s, flush every 10 s of camera time."""
    emitter, writer = make(tmp_path, min_members=0, hold=dt.timedelta(seconds=60))
    models = VisionModels(WalkThenStand(30), SameGuess(), RandomEmbedder())
    assigner = GroupAssigner(EpochKeys(SiteSecret(bytes(range(32))), 24), 0.05)
    tracking = TrackingSettings()
    pipeline = CameraPipeline(DOOR, models, assigner, emitter, tracking, emitter.metrics, pass_deadline_seconds)
    for index in range(10 * 180):
        image = np.full((480, 640, 3), 100, np.uint8)
        pipeline.process(Frame("door", image, START + dt.timedelta(seconds=index / 10), time.monotonic()))
        if index % 100 == 99:
            writer.flush()
    pipeline.finish()
    emitter.close("door", True)
    writer.flush()
    return emitter, segment_tables(tmp_path, Stream.OCCURRENCES)


def test_a_person_lingering_after_crossing_still_reaches_the_landing_zone_in_their_slice(tmp_path: Path) -> None:
    emitter, tables = lingering_person(tmp_path / "deadline", pass_deadline_seconds=30)
    (table,) = tables
    (row,) = table.to_pylist()
    assert row["direction"] == "in" and START < row["observed_at"] < START + dt.timedelta(seconds=3)
    assert late_dropped(emitter) == 0
    # Without the deadline the pass would only come when the track ends, long after its slice left.
    emitter, tables = lingering_person(tmp_path / "none", pass_deadline_seconds=None)
    assert tables == [] and late_dropped(emitter) == 1
