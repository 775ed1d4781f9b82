"""The cell checks judge the hours in which the sensor starts and stops, on the real emitter's output.

Before the sensor spread a camera-hour's whole plan over the part of the hour it covers (and re-timed the
rest at a clean stop), those hours held only part of their fictitious floor and the audit exempted them.
A crash still cuts an hour's plan short: the audit must then report it, not excuse it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from individ.audit.groups import measure_groups
from individ.audit.model import Section, Status
from individ.contract import LandingZone, Stream
from individ.site_config import parse_site_config
from sensors.emitter import Emitter
from sensors.metrics import SensorMetrics
from sensors.sources import FrameCounters
from sensors.writer import BufferedWriter

START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
LONG_AFTER = START + dt.timedelta(days=1)
CONFIG = parse_site_config(
    {
        "site": {"id": "s", "name": "S", "timezone": "UTC"},
        "cameras": [{"id": "door", "source": "x.mp4", "role": "corridor", "expected_passes_per_hour": 1200}],
        "privacy": {"fictitious": {"min_members": 3}},
    }
)


def run_sensor(landing: LandingZone, begin: dt.timedelta, end: dt.timedelta, seed: int, clean: bool = True) -> None:
    """One run of the real emitter from START + begin to START + end, a real pass every 30 s; stopped
    cleanly (close) or crashed (no close, and whatever the writer still buffered is lost)."""
    metrics = SensorMetrics()
    writer = BufferedWriter(landing, "s", "sensor-1", 10**7, metrics)
    emitter = Emitter(
        list(CONFIG.cameras),
        {"door": FrameCounters()},
        CONFIG.privacy,
        dt.UTC,
        writer,
        metrics,
        stream_status=lambda _: "ok",
        key_epoch=lambda _: 1,
        rng=np.random.default_rng(seed),
    )
    rng = np.random.default_rng(seed + 100)
    for second in range(int(begin.total_seconds()), int(end.total_seconds())):
        now = START + dt.timedelta(seconds=second)
        emitter.frame_processed("door", now, 0, 30.0)
        if second % 30 == 0:
            emitter.occurrence("door", now, int(rng.integers(1000)), "unknown")
        if second % 60 == 59:
            writer.flush()
    if clean:
        emitter.close("door", True)
        writer.flush()


def stored(landing: LandingZone, stream: Stream) -> pl.DataFrame:
    return pl.from_arrow(pa.concat_tables([landing.read(s) for s in landing.segments(stream)]))  # type: ignore[return-value]


def audit_groups(landing: LandingZone, now: dt.datetime = LONG_AFTER) -> Section:
    return measure_groups(CONFIG, stored(landing, Stream.OCCURRENCES), stored(landing, Stream.HEARTBEATS), now=now)


def statuses(section: Section) -> dict[str, Status]:
    return {g.id: g.status for g in section.guarantees}


def test_hours_a_sensor_starts_and_stops_in_are_judged_and_hold(tmp_path: Path) -> None:
    landing = LandingZone(tmp_path / "landing")
    run_sensor(landing, dt.timedelta(minutes=50), dt.timedelta(minutes=80), seed=1)  # 09:50 - 10:20
    section = audit_groups(landing)
    assert section.figures["interrupted_camera_hours"] == 2  # both hours are partial, and judged:
    assert statuses(section)["groups.cells_below_min"] is Status.PASS
    assert statuses(section)["groups.fictitious_follow_plan"] is Status.PASS


def test_a_restart_within_an_hour_adds_a_second_plan_that_the_audit_expects(tmp_path: Path) -> None:
    landing = LandingZone(tmp_path / "landing")
    run_sensor(landing, dt.timedelta(minutes=0), dt.timedelta(minutes=20), seed=1)
    run_sensor(landing, dt.timedelta(minutes=25), dt.timedelta(minutes=60), seed=2)
    section = audit_groups(landing)
    assert statuses(section)["groups.cells_below_min"] is Status.PASS
    assert statuses(section)["groups.fictitious_follow_plan"] is Status.PASS  # two runs: up to two plans


def test_an_hour_cut_short_by_a_crash_is_reported_not_excused(tmp_path: Path) -> None:
    landing = LandingZone(tmp_path / "landing")
    run_sensor(landing, dt.timedelta(minutes=0), dt.timedelta(minutes=20), seed=1, clean=False)
    section = audit_groups(landing)
    assert statuses(section)["groups.cells_below_min"] is Status.FAIL
    assert statuses(section)["groups.fictitious_follow_plan"] is Status.FAIL


def test_an_hour_still_being_written_is_counted_not_judged(tmp_path: Path) -> None:
    landing = LandingZone(tmp_path / "landing")
    run_sensor(landing, dt.timedelta(minutes=0), dt.timedelta(minutes=20), seed=1, clean=False)
    section = audit_groups(landing, now=START + dt.timedelta(minutes=20))  # the sensor still writes this hour
    assert statuses(section)["groups.cells_below_min"] is Status.NOT_MEASURED
    assert statuses(section)["groups.fictitious_follow_plan"] is Status.NOT_MEASURED
    assert section.figures["camera_hours"] == 0 and section.figures["camera_hours_not_final"] == 1
