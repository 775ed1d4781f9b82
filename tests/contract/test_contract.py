"""Round trips of event contract v1 and every bad-input case the contract promises to survive."""

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from individ.contract import (
    QUARANTINE_DIR,
    SCHEMAS,
    ContractViolation,
    LandingZone,
    Stream,
)

from .conftest import HOUR, occurrence_rows

IDS = {"site_id": "demo-mall", "sensor_id": "edge-1"}
TS = pa.timestamp("ms", tz="UTC")


def demographic_rows() -> dict[str, pa.Array]:
    return {
        "camera_id": pa.array(["cam-0", "cam-0"]),
        "window_start": pa.array([HOUR, HOUR], TS),
        "window_minutes": pa.array([15, 15], pa.int16()),
        "age_band": pa.array(["18-27", "unknown"]),
        "gender": pa.array(["female", "unknown"]),
        "count": pa.array([6, 2], pa.int32()),
    }


def heartbeat_rows() -> dict[str, pa.Array]:
    return {
        "camera_id": pa.array(["cam-0"]),
        "minute_start": pa.array([HOUR + dt.timedelta(minutes=3)], TS),
        "frames_read": pa.array([600], pa.int32()),
        "frames_processed": pa.array([598], pa.int32()),
        "frames_dropped": pa.array([2], pa.int32()),
        "frames_corrupt": pa.array([0], pa.int32()),
        "persons_detected": pa.array([40], pa.int32()),
        "occurrences_emitted": pa.array([4], pa.int32()),
        "fictitious_emitted": pa.array([1], pa.int32()),
        "fictitious_plan_per_group": pa.array([0.5]),
        "stream_status": pa.array(["ok"]),
        "latency_p50_ms": pa.array([12.5]),
        "latency_p99_ms": pa.array([48.0]),
        "lsh_key_epoch": pa.array([20394], pa.int64()),
    }


ROWS = {
    Stream.OCCURRENCES: occurrence_rows,
    Stream.DEMOGRAPHICS: demographic_rows,
    Stream.HEARTBEATS: heartbeat_rows,
}


@pytest.mark.parametrize("stream", list(Stream))
def test_round_trip_every_stream(tmp_path: Path, stream: Stream) -> None:
    zone = LandingZone(tmp_path)
    rows = ROWS[stream]()
    [segment] = zone.write(stream, rows, **IDS)
    assert segment.path == f"{tmp_path}/{stream.value}/date=2026-11-02/hour=09/{segment.segment_id}.parquet"
    assert zone.segments(stream) == [segment]
    table = zone.read(segment)
    assert table.schema.remove_metadata() == SCHEMAS[stream]
    for column, values in rows.items():
        assert table.column(column).to_pylist() == pa.array(values).to_pylist()
    assert set(table.column("segment_id").to_pylist()) == {segment.segment_id}
    assert set(table.column("schema_version").to_pylist()) == {1}


def test_rows_are_split_into_one_segment_per_hour(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    rows = occurrence_rows(5, HOUR + dt.timedelta(minutes=59, seconds=50))
    segments = zone.write(Stream.OCCURRENCES, rows, **IDS)
    assert [s.hour.hour for s in segments] == [9, 10]
    assert sum(zone.read(s).num_rows for s in segments) == 5


def test_same_segment_delivered_twice_lands_once_with_the_same_id(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    first = zone.write(Stream.OCCURRENCES, occurrence_rows(), **IDS)
    again = zone.write(Stream.OCCURRENCES, occurrence_rows(), **IDS)
    assert first == again
    assert len(zone.segments(Stream.OCCURRENCES)) == 1
    other = zone.write(Stream.OCCURRENCES, occurrence_rows(4), **IDS)
    assert other[0].segment_id != first[0].segment_id


def test_segment_ids_are_stable_across_processes(tmp_path: Path) -> None:
    """Re-delivery from a restarted writer must reproduce the id, so it cannot depend on process state."""
    code = textwrap.dedent(
        f"""
        from individ.contract import LandingZone, Stream
        from tests.contract.conftest import occurrence_rows
        [s] = LandingZone({str(tmp_path)!r}).write(Stream.OCCURRENCES, occurrence_rows(), site_id="demo-mall",
                                                   sensor_id="edge-1")
        print(s.segment_id)
        """
    )
    ids = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        for _ in range(2)
    }
    [local] = LandingZone(tmp_path / "other").write(Stream.OCCURRENCES, occurrence_rows(), **IDS)
    assert ids == {local.segment_id}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("group_id"), "missing columns"),
        (lambda r: r.update(group_id=pa.array([1000, 1, 2, 3, 4], pa.int16())), "group_id outside"),
        (lambda r: r.update(group_id=pa.array([-1, 1, 2, 3, 4], pa.int16())), "group_id outside"),
        (lambda r: r.update(direction=pa.array(["in", "up", "in", "in", "in"])), "direction"),
        (lambda r: r.update(camera_id=pa.array(["", "a", "a", "a", "a"])), "empty 'camera_id'"),
        (lambda r: r.update(observed_at=pa.array([HOUR + dt.timedelta(milliseconds=500)] * 5, TS)), "whole seconds"),
        (lambda r: r.update(face_box=pa.array([1, 2, 3, 4, 5])), "unexpected columns"),
        (lambda r: r.update(segment_id=pa.array(["x"] * 5)), "set by the writer"),
    ],
)
def test_writer_rejects_rows_that_break_the_contract(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    rows = occurrence_rows()
    change(rows)
    with pytest.raises(ContractViolation, match=message):
        LandingZone(tmp_path).write(Stream.OCCURRENCES, rows, **IDS)
    assert not list(tmp_path.rglob("*.parquet"))


def test_violation_messages_never_quote_row_values(tmp_path: Path) -> None:
    rows = occurrence_rows()
    rows["camera_id"] = pa.array(["secret-cam"] * 5)
    rows["direction"] = pa.array(["sideways-walker"] * 5)
    with pytest.raises(ContractViolation) as error:
        LandingZone(tmp_path).write(Stream.OCCURRENCES, rows, **IDS)
    assert "sideways-walker" not in str(error.value)
    assert "secret-cam" not in str(error.value)


def _rewrite(path: str, table: pa.Table) -> None:
    pq.write_table(table, path)


def _bad_version(path: str) -> None:
    table = pq.read_table(path)
    _rewrite(path, table.set_column(0, "schema_version", pa.array([2] * table.num_rows, pa.int16())))


def _wrong_schema(path: str) -> None:
    _rewrite(path, pq.read_table(path).drop(["group_id"]))


def _out_of_range(path: str) -> None:
    table = pq.read_table(path)
    index = table.schema.get_field_index("group_id")
    _rewrite(path, table.set_column(index, "group_id", pa.array([5000] * table.num_rows, pa.int16())))


def _truncated(path: str) -> None:
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: len(data) // 2])


def _not_parquet(path: str) -> None:
    Path(path).write_text("camera,group\ncam-0,12\n")


def _moved_to_wrong_hour(path: str) -> None:
    target = Path(path.replace("hour=09", "hour=11"))
    target.parent.mkdir(parents=True)
    Path(path).rename(target)


def _renamed(path: str) -> None:
    Path(path).rename(Path(path).with_name("occ-edge-1-20261102T09-0000.parquet"))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_bad_version, "schema_version"),
        (_wrong_schema, "missing columns"),
        (_out_of_range, "group_id outside"),
        (_truncated, "unreadable Parquet"),
        (_not_parquet, "unreadable Parquet"),
        (_moved_to_wrong_hour, "outside the segment's hour"),
        (_renamed, "does not match its name"),
    ],
)
def test_malformed_segment_is_quarantined_and_the_rest_still_read(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    zone = LandingZone(tmp_path)
    [bad] = zone.write(Stream.OCCURRENCES, occurrence_rows(5), **IDS)
    [good] = zone.write(Stream.OCCURRENCES, occurrence_rows(3), **IDS)
    damage(bad.path)
    with caplog.at_level(logging.ERROR, logger="individ.contract"):
        read = list(zone.read_valid(Stream.OCCURRENCES))
    assert [segment for segment, _ in read] == [good]
    assert zone.segments(Stream.OCCURRENCES) == [good]
    [record] = zone.quarantined()
    assert reason in record["reason"]
    assert any("quarantined segment" in message and reason in message for message in caplog.messages)
    quarantined = list((tmp_path / QUARANTINE_DIR).rglob("*.parquet"))
    assert len(quarantined) == 1
    assert json.loads(Path(f"{quarantined[0]}.reason.json").read_text())["reason"] == record["reason"]


def test_failed_rename_leaves_no_file_behind(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)

    class RenameFails:
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

        def move(self, source: str, destination: str) -> None:
            raise OSError(28, "No space left on device")

    zone.filesystem = RenameFails(zone.filesystem)  # type: ignore[assignment]
    with pytest.raises(OSError, match="No space left"):
        zone.write(Stream.OCCURRENCES, occurrence_rows(), **IDS)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_full_disk_during_write_raises_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full_disk)
    with pytest.raises(OSError, match="No space left"):
        LandingZone(tmp_path).write(Stream.OCCURRENCES, occurrence_rows(), **IDS)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_crash_between_write_and_rename_shows_no_partial_segment(tmp_path: Path) -> None:
    """A writer process killed after writing the temporary file but before the rename."""
    code = textwrap.dedent(
        f"""
        import os
        from individ.contract import LandingZone, Stream
        from tests.contract.conftest import occurrence_rows
        zone = LandingZone({str(tmp_path)!r})
        zone.filesystem = type("Crashing", (), {{
            "create_dir": zone.filesystem.create_dir,
            "move": lambda self, a, b: os._exit(9),
        }})()
        zone.write(Stream.OCCURRENCES, occurrence_rows(), site_id="demo-mall", sensor_id="edge-1")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 9, result.stderr
    leftovers = list(tmp_path.rglob("*.parquet"))
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".tmp-")
    zone = LandingZone(tmp_path)
    assert zone.segments(Stream.OCCURRENCES) == []
    assert list(zone.read_valid(Stream.OCCURRENCES)) == []
    [segment] = zone.write(Stream.OCCURRENCES, occurrence_rows(), **IDS)
    assert zone.segments(Stream.OCCURRENCES) == [segment]


def test_files_are_written_durably(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    LandingZone(tmp_path).write(Stream.OCCURRENCES, occurrence_rows(), **IDS)
    assert len(synced) == 2  # the file before the rename, the folder after it


def test_written_files_carry_the_exact_schema_including_nullability(tmp_path: Path) -> None:
    [segment] = LandingZone(tmp_path).write(Stream.OCCURRENCES, occurrence_rows(), **IDS)
    assert pq.read_schema(segment.path).remove_metadata() == SCHEMAS[Stream.OCCURRENCES]


def test_distinct_batches_with_identical_rows_get_distinct_segments(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    [first] = zone.write(Stream.DEMOGRAPHICS, demographic_rows(), **IDS, batch="restart-1")
    [second] = zone.write(Stream.DEMOGRAPHICS, demographic_rows(), **IDS, batch="restart-2")
    assert first.segment_id != second.segment_id
    assert zone.write(Stream.DEMOGRAPHICS, demographic_rows(), **IDS, batch="restart-1") == [first]
    assert len(zone.segments(Stream.DEMOGRAPHICS)) == 2
