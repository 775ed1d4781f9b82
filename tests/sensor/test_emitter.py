"""From pipeline events to contract files: occurrences, fictitious persons, demographic windows, heartbeats."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from individ.contract import LandingZone, Stream
from individ.site_config import Camera, PrivacyParameters, SmallCellPolicy
from sensors.emitter import Emitter, apply_small_cell_policy
from sensors.metrics import SensorMetrics
from sensors.sources import FrameCounters
from sensors.writer import BufferedWriter

from .conftest import START


def make_emitter(
    tmp_path: Path, expected: float = 0.0, min_members: float = 0.0, **privacy: object
) -> tuple[Emitter, BufferedWriter, LandingZone, FrameCounters]:
    camera = Camera(id="cam-a", source="x.mp4", role="corridor", expected_passes_per_hour=expected)
    params = PrivacyParameters.model_validate({"fictitious": {"min_members": min_members}, **privacy})
    landing = LandingZone(tmp_path / "landing")
    metrics = SensorMetrics()
    writer = BufferedWriter(landing, "test-site", "sensor-1", 1_000_000, metrics)
    counters = FrameCounters()
    emitter = Emitter(
        [camera],
        {"cam-a": counters},
        params,
        dt.UTC,
        writer,
        metrics,
        stream_status=lambda _: "ok",
        key_epoch=lambda minute: 20_000 + minute.hour,
        rng=np.random.default_rng(5),
    )
    return emitter, writer, landing, counters


def read(landing: LandingZone, stream: Stream) -> pa.Table:
    tables = [landing.read(segment) for segment in landing.segments(stream)]
    return pa.concat_tables(tables) if tables else pa.table({})


def at(minutes: float) -> dt.datetime:
    return START + dt.timedelta(minutes=minutes)


def test_small_cell_policies() -> None:
    counts = {("18-27", "female"): 6, ("28-37", "male"): 2, ("unknown", "unknown"): 1, ("78+", "male"): 2}
    assert apply_small_cell_policy(counts, SmallCellPolicy.SUPPRESS, 5) == {("18-27", "female"): 6}
    assert apply_small_cell_policy(counts, SmallCellPolicy.MERGE_UNKNOWN, 5) == {
        ("18-27", "female"): 6,
        ("unknown", "unknown"): 5,
    }
    # Merged but still small: dropped too, no released cell is below the minimum.
    assert apply_small_cell_policy({("18-27", "male"): 3}, SmallCellPolicy.MERGE_UNKNOWN, 5) == {}


def test_demographics_leave_only_when_their_window_has_ended(tmp_path: Path) -> None:
    emitter, writer, landing, _ = make_emitter(tmp_path)
    emitter.advance("cam-a", at(0))
    for index in range(7):
        emitter.demographic("cam-a", at(1 + index), "18-27", "female")
    for index in range(3):
        emitter.demographic("cam-a", at(2 + index), "38-47", "male")
    for index in range(2):
        emitter.demographic("cam-a", at(3 + index), "unknown", "unknown")
    emitter.advance("cam-a", at(14.99))
    writer.flush()
    assert landing.segments(Stream.DEMOGRAPHICS) == []  # the window is still open
    emitter.advance("cam-a", at(15))
    writer.flush()
    table = read(landing, Stream.DEMOGRAPHICS)
    rows = sorted(zip(*(table.column(c).to_pylist() for c in ("age_band", "gender", "count")), strict=True))
    assert rows == [("18-27", "female", 7), ("unknown", "unknown", 5)]  # 3 < min_cell_size 5: merged
    assert set(table.column("window_start").to_pylist()) == {START}
    assert set(table.column("window_minutes").to_pylist()) == {15}


def test_the_partial_window_at_shutdown_follows_the_policy(tmp_path: Path) -> None:
    for include, expected in ((True, 1), (False, 0)):
        emitter, writer, landing, _ = make_emitter(tmp_path / str(include), small_cells="suppress")
        emitter.advance("cam-a", at(0))
        for index in range(6):
            emitter.demographic("cam-a", at(1 + index / 10), "48-57", "female")
        emitter.close("cam-a", include_partial_window=include)
        writer.flush()
        assert len(landing.segments(Stream.DEMOGRAPHICS)) == expected


def test_occurrences_are_whole_seconds_and_shuffled(tmp_path: Path) -> None:
    emitter, writer, landing, _ = make_emitter(tmp_path)
    emitter.advance("cam-a", at(0))
    times = [START + dt.timedelta(seconds=1.7 * i) for i in range(60)]
    for index, when in enumerate(times):
        emitter.occurrence("cam-a", when, index, "in")
    writer.flush()
    table = read(landing, Stream.OCCURRENCES)
    written = table.column("observed_at").to_pylist()
    assert sorted(written) == [t.replace(microsecond=0) for t in times]
    assert written != sorted(written)  # row order does not follow time order
    groups = table.column("group_id").to_pylist()
    assert groups != sorted(groups)


def test_fictitious_persons_follow_the_plan_fixed_in_advance(tmp_path: Path) -> None:
    # 500 expected passes/h over 1,000 groups with min_members 3: 2.5 per group (a floor of 2 + Poisson(0.5)).
    emitter, writer, landing, _ = make_emitter(tmp_path, expected=500, min_members=3)
    for second in range(0, 3601, 5):
        emitter.advance("cam-a", START + dt.timedelta(seconds=second))
        if second == 600:
            writer.flush()
            early = read(landing, Stream.OCCURRENCES).column("observed_at").to_pylist()
            assert early and max(early) <= at(10)  # emitted as their times pass, never ahead
    writer.flush()
    occurrences = read(landing, Stream.OCCURRENCES).filter(
        pa.compute.less(pa.compute.field("observed_at"), pa.scalar(at(60), pa.timestamp("ms", tz="UTC")))
    )
    total = occurrences.num_rows
    assert abs(total - 2500) < 4 * np.sqrt(500)  # 2,000 fixed + Poisson(500) within 4 sigma
    per_group = np.bincount(np.asarray(occurrences.column("group_id").to_pylist()), minlength=1000)
    assert per_group.min() >= 2  # the floor holds in every group
    assert abs(per_group.mean() - 2.5) < 0.1 and abs(per_group.var() - 0.5) < 0.15
    heartbeats = read(landing, Stream.HEARTBEATS).filter(
        pa.compute.less(pa.compute.field("minute_start"), pa.scalar(at(60), pa.timestamp("ms", tz="UTC")))
    )
    assert heartbeats.num_rows == 60
    assert sum(heartbeats.column("fictitious_emitted").to_pylist()) == total
    assert set(heartbeats.column("fictitious_plan_per_group").to_pylist()) == {2.5}
    assert set(occurrences.column("direction").to_pylist()) == {"unknown"}  # no counting line here


def test_no_fictitious_person_before_the_camera_started(tmp_path: Path) -> None:
    emitter, writer, landing, _ = make_emitter(tmp_path, expected=0, min_members=3)  # 3,000 per hour
    for second in range(30 * 60, 3601, 5):
        emitter.advance("cam-a", START + dt.timedelta(seconds=second))
    writer.flush()
    times = read(landing, Stream.OCCURRENCES).column("observed_at").to_pylist()
    assert min(times) >= at(30)
    assert abs(len([t for t in times if t < at(60)]) - 1500) < 4 * np.sqrt(1500)


def test_heartbeats_carry_counts_latency_plan_and_key_epoch(tmp_path: Path) -> None:
    emitter, writer, landing, counters = make_emitter(tmp_path, expected=2000, min_members=3)
    for index in range(20):  # minute 0: 20 frames, 2 persons each, latencies 10..29 ms
        when = START + dt.timedelta(seconds=3 * index)
        counters.add(when, "frames_read", 2)
        counters.add(when, "frames_dropped")
        emitter.frame_processed("cam-a", when, 2, 10.0 + index)
    counters.add(at(0.5), "frames_corrupt", 3)
    emitter.occurrence("cam-a", at(0.9), 12, "unknown")
    emitter.advance("cam-a", at(1.01))
    writer.flush()
    (row,) = read(landing, Stream.HEARTBEATS).to_pylist()
    assert row["minute_start"] == START
    assert (row["frames_read"], row["frames_processed"], row["frames_dropped"], row["frames_corrupt"]) == (
        40,
        20,
        20,
        3,
    )
    assert row["persons_detected"] == 40 and row["occurrences_emitted"] == 1
    assert row["latency_p50_ms"] == pytest.approx(19.5) and 28 < row["latency_p99_ms"] <= 29
    assert row["fictitious_plan_per_group"] == pytest.approx(2.0)  # the floor: 2,000 expected passes fill the rest
    assert row["lsh_key_epoch"] == 20_009
    assert row["stream_status"] == "ok"
