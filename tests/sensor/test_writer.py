"""An unwritable landing zone: reported loudly, rows kept and retried, drops beyond the bound counted."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from individ.contract import LandingZone, Stream
from sensors.metrics import SensorMetrics
from sensors.writer import BufferedWriter

from .conftest import START


def rows(n: int, offset: int = 0) -> list[dict]:
    return [
        {
            "camera_id": "cam-a",
            "observed_at": START + dt.timedelta(seconds=offset + i),
            "group_id": (offset + i) % 1000,
            "direction": "in",
        }
        for i in range(n)
    ]


def metric(metrics: SensorMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def broken_landing(tmp_path: Path) -> tuple[LandingZone, Path]:
    """A landing zone whose folder cannot be created (a file stands where the folder should be)."""
    blocker = tmp_path / "landing"
    blocker.write_text("not a folder")
    return LandingZone(blocker / "zone"), blocker


def test_rows_are_kept_while_the_landing_zone_fails_and_written_when_it_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    landing, blocker = broken_landing(tmp_path)
    metrics = SensorMetrics()
    writer = BufferedWriter(landing, "test-site", "sensor-1", 10_000, metrics)
    writer.add(Stream.OCCURRENCES, rows(30))
    with caplog.at_level(logging.ERROR):
        assert writer.flush() is False
    assert "CANNOT WRITE TO THE LANDING ZONE" in caplog.text
    assert writer.status.writable is False and writer.status.last_error
    assert metric(metrics, "individ_sensor_landing_zone_writable") == 0
    assert metric(metrics, "individ_sensor_write_failures_total", stream="occurrences") == 1
    writer.add(Stream.OCCURRENCES, rows(20, offset=100))
    assert writer.flush() is False
    assert writer.buffered_rows(Stream.OCCURRENCES) == 50
    assert metric(metrics, "individ_sensor_buffered_rows", stream="occurrences") == 50

    blocker.unlink()  # the operator fixes the disk
    assert writer.flush() is True
    assert writer.status.writable is True
    written = sum(landing.read(s).num_rows for s in landing.segments(Stream.OCCURRENCES))
    assert written == 50
    assert metric(metrics, "individ_sensor_landing_zone_writable") == 1
    assert metric(metrics, "individ_sensor_rows_dropped_total", stream="occurrences") == 0


def test_beyond_the_bound_the_oldest_rows_are_dropped_loudly_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    landing, blocker = broken_landing(tmp_path)
    metrics = SensorMetrics()
    writer = BufferedWriter(landing, "test-site", "sensor-1", 100, metrics)
    writer.add(Stream.OCCURRENCES, rows(80))
    writer.flush()
    with caplog.at_level(logging.ERROR):
        writer.add(Stream.OCCURRENCES, rows(50, offset=1000))
    assert "WRITE BUFFER FULL" in caplog.text
    assert writer.buffered_rows(Stream.OCCURRENCES) == 100
    assert metric(metrics, "individ_sensor_rows_dropped_total", stream="occurrences") == 30
    assert writer.status.rows_dropped == {"occurrences": 30}
    blocker.unlink()
    assert writer.flush()
    kept = [t for s in landing.segments(Stream.OCCURRENCES) for t in landing.read(s).column("observed_at").to_pylist()]
    newest = [START + dt.timedelta(seconds=1000 + i) for i in range(50)]
    assert len(kept) == 100 and set(newest) <= set(kept)  # the drops came out of the oldest batch
