"""From pipeline events to contract files: occurrences, fictitious persons, demographic windows, heartbeats."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from individ.contract import STREAM_STATUSES, LandingZone, Stream
from individ.fictitious import DEFAULT_DIRECTION_MIX
from individ.site_config import Camera, CameraRole, PrivacyParameters, SmallCellPolicy
from sensors.emitter import _STATUS_SEVERITY, Emitter, apply_small_cell_policy
from sensors.sources import FrameCounters
from sensors.writer import BufferedWriter

from .conftest import START
from .emitters import HOLD, LINE, build_emitter


def make_emitter(
    tmp_path: Path, expected: float = 0.0, min_members: float = 0.0, camera: Camera | None = None, **privacy: object
) -> tuple[Emitter, BufferedWriter, LandingZone, FrameCounters]:
    camera = camera or Camera(id="cam-a", source="x.mp4", role="corridor", expected_passes_per_hour=expected)
    params = PrivacyParameters.model_validate({"fictitious": {"min_members": min_members}, **privacy})
    built = build_emitter(tmp_path, camera, params, seed=5, key_epoch=lambda minute: 20_000 + minute.hour)
    return built.emitter, built.writer, built.landing, built.counters


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
    emitter.advance("cam-a", times[-1] + HOLD + dt.timedelta(seconds=1))
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
    for second in range(0, 3600 + 300, 5):
        emitter.advance("cam-a", START + dt.timedelta(seconds=second))
        if second == 600:
            writer.flush()
            early = read(landing, Stream.OCCURRENCES).column("observed_at").to_pylist()
            assert early and max(early) < at(10) - HOLD  # released by time slices a hold behind the clock
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


def test_a_camera_starting_mid_hour_gives_that_hour_its_whole_floor(tmp_path: Path) -> None:
    """The review's start_hour.py: a sensor started at 09:50 left all 20 real passes of 09:50-10:00 in cells
    below 3 members, as the planned fictitious persons timed before the start were skipped."""
    emitter, writer, landing, _ = make_emitter(tmp_path, expected=1200, min_members=3)
    rng = np.random.default_rng(4)
    real = []
    for second in range(50 * 60, 3600 + 300):
        now = START + dt.timedelta(seconds=second)
        emitter.frame_processed("cam-a", now, 0, 30.0)
        if second < 3600 and second % 30 == 0:
            real.append(int(rng.integers(1000)))
            emitter.occurrence("cam-a", now, real[-1], "unknown")
    writer.flush()
    occurrences = read(landing, Stream.OCCURRENCES)
    times = occurrences.column("observed_at").to_pylist()
    in_hour = [g for t, g in zip(times, occurrences.column("group_id").to_pylist(), strict=True) if t < at(60)]
    assert min(times) >= at(50)  # nothing timed before the start ...
    members = np.bincount(in_hour, minlength=1000)
    assert members.min() >= 2  # ... yet the whole floor of the hour, in every group
    assert min(members[g] for g in real) >= 3  # so every real pass sits among at least 3 members


def test_a_clean_stop_gives_the_hour_it_stops_in_its_whole_floor(tmp_path: Path) -> None:
    """Planned rows not yet due at a clean stop are re-timed into the part of the hour not yet released."""
    emitter, writer, landing, _ = make_emitter(tmp_path, expected=1200, min_members=3)
    rng = np.random.default_rng(4)
    real = []
    for second in range(0, 20 * 60):
        now = START + dt.timedelta(seconds=second)
        emitter.frame_processed("cam-a", now, 0, 30.0)
        if second % 30 == 0:
            real.append(int(rng.integers(1000)))
            emitter.occurrence("cam-a", now, real[-1], "unknown")
        if second % 60 == 59:
            writer.flush()
    written = {segment.segment_id for segment in landing.segments(Stream.OCCURRENCES)}
    released_before_stop = max(read(landing, Stream.OCCURRENCES).column("observed_at").to_pylist())
    emitter.close("cam-a", include_partial_window=True)
    writer.flush()
    times = read(landing, Stream.OCCURRENCES).column("observed_at").to_pylist()
    assert max(times) < at(20)  # nothing timed after the stop ...
    members = np.bincount(read(landing, Stream.OCCURRENCES).column("group_id").to_pylist(), minlength=1000)
    assert members.min() >= 2 and min(members[g] for g in real) >= 3  # ... yet the whole floor
    # The re-timed rows went into the slice not yet released: the last segment is still a closed slice.
    last = [s for s in landing.segments(Stream.OCCURRENCES) if s.segment_id not in written]
    assert min(min(landing.read(s).column("observed_at").to_pylist()) for s in last) > released_before_stop
    heartbeats = read(landing, Stream.HEARTBEATS)
    assert sum(heartbeats.column("fictitious_emitted").to_pylist()) == len(times) - len(real)


def run_hour_with_outage(tmp_path: Path, down_minutes: range) -> tuple[pa.Table, pa.Table]:
    """One camera-hour (and 5 minutes more) of an Emitter whose stream is down in ``down_minutes``; rows of the
    hour and its heartbeats."""
    status = {"now": "ok"}
    camera = Camera(id="cam-a", source="rtsp://x", role="corridor", expected_passes_per_hour=500)
    params = PrivacyParameters.model_validate({"fictitious": {"min_members": 3}})
    built = build_emitter(tmp_path, camera, params, seed=5, stream_status=lambda _: status["now"])
    for second in range(0, 3600 + 300, 5):
        status["now"] = "down" if second // 60 in down_minutes else "ok"
        built.emitter.advance("cam-a", START + dt.timedelta(seconds=second))
    built.writer.flush()
    hour_end = pa.scalar(at(60), pa.timestamp("ms", tz="UTC"))
    rows = read(built.landing, Stream.OCCURRENCES)
    heartbeats = read(built.landing, Stream.HEARTBEATS)
    return (
        rows.filter(pa.compute.less(pa.compute.field("observed_at"), hour_end)),
        heartbeats.filter(pa.compute.less(pa.compute.field("minute_start"), hour_end)),
    )


def test_fictitious_rows_planned_in_a_down_minute_leave_in_a_later_up_minute_of_their_hour(tmp_path: Path) -> None:
    """No real pass can be seen while the stream is down, so a row in a minute whose heartbeat says so would be
    certainly fictitious. Such rows are re-timed into later minutes of the hour, keeping the hour's plan."""
    rows, heartbeats = run_hour_with_outage(tmp_path / "down", range(10, 20))
    status = {row["minute_start"]: row["stream_status"] for row in heartbeats.to_pylist()}
    assert [status[at(m)] for m in (9, 10, 19, 20)] == ["ok", "down", "down", "ok"]
    times = rows.column("observed_at").to_pylist()
    assert all(status[t.replace(second=0)] == "ok" for t in times)
    # The same draw as with the stream up all hour: every planned row, in its group, in its hour.
    planned, _ = run_hour_with_outage(tmp_path / "up", range(0))
    assert sorted(rows.column("group_id").to_pylist()) == sorted(planned.column("group_id").to_pylist())
    assert sum(heartbeats.column("fictitious_emitted").to_pylist()) == rows.num_rows


def test_an_outage_to_the_end_of_the_hour_leaves_its_rows_in_the_hours_last_minute(tmp_path: Path) -> None:
    """The residual: with no later minute left in the hour, re-timed rows leave in its last minute, down or not;
    the floor's count never drops."""
    rows, heartbeats = run_hour_with_outage(tmp_path / "down", range(50, 60))
    planned, _ = run_hour_with_outage(tmp_path / "up", range(0))
    times = rows.column("observed_at").to_pylist()
    assert not [t for t in times if at(50) <= t < at(59)]
    assert sorted(rows.column("group_id").to_pylist()) == sorted(planned.column("group_id").to_pylist())
    assert sum(heartbeats.column("fictitious_emitted").to_pylist()) == rows.num_rows


def fictitious_directions(tmp_path: Path, camera: Camera) -> dict[str, float]:
    """Shares of directions among one hour of fictitious rows (no real pass here)."""
    emitter, writer, landing, _ = make_emitter(tmp_path, min_members=3, camera=camera)
    for second in range(0, 3600 + 300, 5):
        emitter.advance(camera.id, START + dt.timedelta(seconds=second))
    writer.flush()
    directions = read(landing, Stream.OCCURRENCES).column("direction").to_pylist()
    return {direction: directions.count(direction) / len(directions) for direction in set(directions)}


def test_fictitious_directions_take_every_direction_a_real_pass_can_have(tmp_path: Path) -> None:
    """The review's seg_leak.py: at an entrance every fictitious row said 'in', so each 'out' or 'unknown' row was
    certainly real (70 of 70). Now they follow the camera's mix, fixed in advance."""
    entrance = Camera(id="cam-a", source="x.mp4", role="entrance", counting_line=LINE)
    shares = fictitious_directions(tmp_path / "entrance", entrance)
    expected = DEFAULT_DIRECTION_MIX[CameraRole.ENTRANCE]
    assert set(shares) == {"in", "out", "unknown"}
    assert all(abs(shares[d] - expected[d]) < 0.02 for d in expected), shares
    mix = {"in": 0.5, "out": 0.3, "unknown": 0.2}
    configured = Camera(id="cam-a", source="x.mp4", role="exit", counting_line=LINE, fictitious_directions=mix)
    shares = fictitious_directions(tmp_path / "configured", configured)
    assert all(abs(shares[d] - mix[d]) < 0.03 for d in mix), shares
    # Without a counting line a real pass is always 'unknown', and so is every fictitious one.
    no_line = Camera(id="cam-a", source="x.mp4", role="entrance")
    assert fictitious_directions(tmp_path / "no-line", no_line) == {"unknown": 1.0}


def test_heartbeats_carry_minute_health_and_the_hour_totals_on_the_closing_row(tmp_path: Path) -> None:
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
    assert landing.segments(Stream.HEARTBEATS) == []  # a minute's heartbeat leaves with its occurrences
    emitter.advance("cam-a", at(1.01) + HOLD)
    writer.flush()
    (row,) = read(landing, Stream.HEARTBEATS).to_pylist()
    assert row["minute_start"] == START
    assert (row["frames_read"], row["frames_corrupt"], row["stream_status"]) == (40, 3, "ok")
    assert row["fictitious_plan_per_group"] == pytest.approx(2.0)  # the floor: 2,000 expected passes fill the rest
    assert row["lsh_key_epoch"] == 20_009
    # What follows the persons waits for the hour's closing row.
    assert (row["frames_processed"], row["frames_dropped"], row["persons_detected"]) == (0, 0, 0)
    assert (row["occurrences_emitted"], row["fictitious_emitted"]) == (0, 0)
    assert row["latency_p50_ms"] is None and row["latency_p99_ms"] is None
    emitter.advance("cam-a", at(60.01) + HOLD)
    writer.flush()
    rows = sorted(read(landing, Stream.HEARTBEATS).to_pylist(), key=lambda r: r["minute_start"])
    assert [r["minute_start"] for r in rows] == [at(m) for m in range(60)]  # one row per minute, none twice
    closing = rows[59]
    assert (closing["frames_read"], closing["frames_corrupt"]) == (0, 0)
    assert (closing["frames_processed"], closing["frames_dropped"], closing["persons_detected"]) == (20, 20, 40)
    fictitious = read(landing, Stream.OCCURRENCES).filter(
        pa.compute.less(pa.compute.field("observed_at"), pa.scalar(at(60), pa.timestamp("ms", tz="UTC")))
    )
    assert closing["occurrences_emitted"] == 1 and closing["fictitious_emitted"] == fictitious.num_rows - 1
    assert closing["latency_p50_ms"] == pytest.approx(19.5) and 28 < closing["latency_p99_ms"] <= 29
    assert all(r["persons_detected"] == 0 and r["latency_p99_ms"] is None for r in rows[1:59])


def test_at_shutdown_the_last_covered_minute_carries_the_totals(tmp_path: Path) -> None:
    """A sensor stopped mid-hour writes what it counted on its last minute; a restart counts on from zero."""
    emitter, writer, landing, _ = make_emitter(tmp_path, expected=0, min_members=3)
    for second in range(30 * 60, 75 * 60 + 31, 2):  # 12:30 to 13:15:30 (UTC 09:30 to 10:15:30)
        emitter.frame_processed("cam-a", START + dt.timedelta(seconds=second), 1, 5.0)
    emitter.close("cam-a", include_partial_window=False)
    writer.flush()
    rows = sorted(read(landing, Stream.HEARTBEATS).to_pylist(), key=lambda r: r["minute_start"])
    assert [r["minute_start"] for r in rows] == [at(m) for m in range(30, 76)]
    carrying = [r for r in rows if r["frames_processed"] or r["fictitious_emitted"] or r["latency_p50_ms"]]
    assert [r["minute_start"] for r in carrying] == [at(59), at(75)]
    first, last = carrying
    assert (first["frames_processed"], first["persons_detected"]) == (900, 900)  # 30 minutes, a frame every 2 s
    assert (last["frames_processed"], last["persons_detected"]) == (466, 466)  # 13:00:00 to 13:15:30
    occurrences = read(landing, Stream.OCCURRENCES).column("observed_at").to_pylist()
    assert first["fictitious_emitted"] == sum(t < at(60) for t in occurrences)
    assert last["fictitious_emitted"] == sum(t >= at(60) for t in occurrences)


def test_counts_of_a_minute_already_written_go_to_the_next_row(tmp_path: Path) -> None:
    """A frame decoded just before its minute closed but reported after: counted once, in the next row."""
    emitter, writer, landing, counters = make_emitter(tmp_path)
    emitter.advance("cam-a", at(0))
    emitter.advance("cam-a", at(1.001) + HOLD)  # minute 0 is written (its rows left)
    counters.add(at(0.999), "frames_read")
    emitter.frame_processed("cam-a", at(0.999), 3, 7.0)
    emitter.close("cam-a", include_partial_window=False)
    writer.flush()
    rows = sorted(read(landing, Stream.HEARTBEATS).to_pylist(), key=lambda r: r["minute_start"])
    # The frame counts in minute 1 (the first not written); its persons in the hour's totals on the last row.
    assert [(r["minute_start"], r["frames_read"], r["persons_detected"]) for r in rows] == [
        (at(0), 0, 0),
        (at(1), 1, 0),
        (at(2), 0, 0),
        (at(3), 0, 3),
    ]


def test_a_minutes_heartbeat_reports_the_status_of_that_minute_not_of_when_it_is_written(tmp_path: Path) -> None:
    """Heartbeats leave a release hold after their minute; the stream may have recovered by then."""
    status = {"now": "ok"}
    camera = Camera(id="cam-a", source="rtsp://x", role="corridor")
    params = PrivacyParameters.model_validate({"fictitious": {"min_members": 0}})
    built = build_emitter(tmp_path, camera, params, stream_status=lambda _: status["now"])
    for second in range(0, 60 * 5, 5):  # down from 1:00 to 1:30, otherwise ok
        status["now"] = "down" if 60 <= second < 90 else "ok"
        built.emitter.advance("cam-a", START + dt.timedelta(seconds=second))
    built.emitter.close("cam-a", include_partial_window=False)
    built.writer.flush()
    rows = sorted(read(built.landing, Stream.HEARTBEATS).to_pylist(), key=lambda r: r["minute_start"])
    assert [r["stream_status"] for r in rows] == ["ok", "down", "ok", "ok", "ok"]


def test_every_stream_status_has_a_severity() -> None:
    assert set(_STATUS_SEVERITY) == set(STREAM_STATUSES)
