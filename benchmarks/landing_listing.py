"""What one landing-sensor tick and one ingestion run cost to list, as the landing zone's history grows.

Builds a local landing zone of ``--days`` days: per hour, per sensor service, ``--flushes`` occurrence
and heartbeat segments (the sensor flushes every 60 s by default) and 4 demographic segments. The
history's files are hard links to one real segment per stream (listing never opens them; the watermark
reads the newest heartbeats, which are real Parquet). Every folder is aged by an hour, as in a running
site. Then it times, best of ``--repeat``:

* ``full listing``: every segment of every stream (what each tick and each ingestion did before);
* ``first tick``: the sensor's listing + plan + settle with an empty cursor (once per deployment);
* ``steady tick``: the next tick, nothing new (settled folders are skipped), and its listing alone (the
  rest is reading the newest two hours of heartbeats for the watermark, as before);
* ``tick after a late segment``: one segment lands in an hour 2.5 days older than the newest;
* ``ingestion frame``: the segments of one run's read frame (a site day plus the lookahead, 28 hours).

It also prints the size of the sensor's cursor after the first tick (Dagster stores it with every tick)
and how long writing and reading it back takes.

Usage: ``uv run python benchmarks/landing_listing.py [--days 30] [--sensors 1] [--flushes 60] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from individ.contract import LandingZone, Segment, Stream
from individ_pipelines.defs.landing.ingest import segments_for_hours
from individ_pipelines.defs.landing.partitions import HOUR
from individ_pipelines.defs.landing.sensors import (
    SensorCursor,
    landing_watermark,
    list_candidates,
    plan_runs,
    settle_folders,
)

LAST_DAY = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
REACH_MINUTES = 180
LINKS_PER_FILE = 50_000


def template_segments(zone: LandingZone, hour: dt.datetime) -> dict[Stream, Segment]:
    ts = pa.timestamp("ms", tz="UTC")
    rows = {
        Stream.OCCURRENCES: {
            "camera_id": ["cam-0"],
            "observed_at": pa.array([hour], ts),
            "group_id": pa.array([1], pa.int16()),
            "direction": ["in"],
        },
        Stream.DEMOGRAPHICS: {
            "camera_id": ["cam-0"],
            "window_start": pa.array([hour], ts),
            "window_minutes": pa.array([15], pa.int16()),
            "age_band": ["18-27"],
            "gender": ["female"],
            "count": pa.array([6], pa.int32()),
        },
        Stream.HEARTBEATS: {
            "camera_id": ["cam-0"],
            "minute_start": pa.array([hour], ts),
            **{
                name: pa.array([0], pa.int32())
                for name in ("frames_read", "frames_processed", "frames_dropped", "frames_corrupt")
            },
            **{
                name: pa.array([0], pa.int32())
                for name in ("persons_detected", "occurrences_emitted", "fictitious_emitted")
            },
            "fictitious_plan_per_group": [0.5],
            "stream_status": ["ok"],
            "latency_p50_ms": [10.0],
            "latency_p99_ms": [30.0],
            "lsh_key_epoch": pa.array([1], pa.int64()),
        },
    }
    return {stream: zone.write(stream, rows[stream], site_id="bench", sensor_id="s0")[0] for stream in Stream}


def build_history(root: Path, days: int, sensors: int, flushes: int) -> tuple[LandingZone, int]:
    zone = LandingZone(root / "landing")
    templates = template_segments(LandingZone(root / "templates"), LAST_DAY)
    per_hour = {Stream.OCCURRENCES: flushes, Stream.HEARTBEATS: flushes, Stream.DEMOGRAPHICS: 4}
    first = LAST_DAY - (days - 1) * 24 * HOUR
    an_hour_ago = int((dt.datetime.now(dt.UTC) - HOUR).timestamp()) * 1_000_000_000
    linked = dict.fromkeys(Stream, 0)
    for index in range(days * 24):
        hour = first + index * HOUR
        for stream, count in per_hour.items():
            folder = Path(zone.root) / stream.value / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
            folder.mkdir(parents=True)
            for sensor in range(sensors):
                for flush in range(count):
                    name = f"{stream.value[:3]}-s{sensor}-{hour:%Y%m%dT%H}-{flush:020d}.parquet"
                    copy, links = divmod(linked[stream], LINKS_PER_FILE)  # file systems cap links per file
                    source = Path(templates[stream].path).with_name(f"copy-{copy}.parquet")
                    if links == 0:
                        shutil.copyfile(templates[stream].path, source)
                    os.link(source, folder / name)
                    linked[stream] += 1
            os.utime(folder, ns=(an_hour_ago, an_hour_ago))
    return zone, sum(linked.values())


def best_of(repeat: int, action: Callable[[], int]) -> tuple[float, int]:
    """The fastest of ``repeat`` runs, and what the action counted."""
    times, counted = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        counted = action()
        times.append(time.perf_counter() - start)
    return min(times), counted


def tick(zone: LandingZone, cursor: SensorCursor, first_hour: dt.datetime) -> tuple[SensorCursor, int]:
    """One sensor evaluation as the Dagster sensor runs it, minus Dagster: listing, watermark, plan, settle."""
    now = dt.datetime.now(dt.UTC)
    listing = list_candidates(zone, cursor, first_hour, reach_minutes=REACH_MINUTES)
    _, after = plan_runs(
        listing.segments, cursor, now=now, watermark=landing_watermark(zone, listing.segments),
        max_lag_minutes=30, reach_minutes=REACH_MINUTES, lateness_minutes=120, first_hour=first_hour,
        newest_hour=listing.newest_hour, hours=listing.hours,
    )  # fmt: skip
    return settle_folders(after, listing, listed_at=now, reach_minutes=REACH_MINUTES), len(listing.segments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sensors", type=int, default=1, help="sensor services writing segments")
    parser.add_argument("--flushes", type=int, default=60, help="occurrence/heartbeat segments per hour per sensor")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    first_hour = LAST_DAY - (args.days - 1) * 24 * HOUR
    late_hour = LAST_DAY - 2 * 24 * HOUR + 12 * HOUR  # two and a half days before the newest hour
    frame = [LAST_DAY - 24 * HOUR + i * HOUR for i in range(28)]
    rows: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="landing-listing-") as folder:
        start = time.perf_counter()
        zone, files = build_history(Path(folder), args.days, args.sensors, args.flushes)
        built = time.perf_counter() - start
        print(f"history: {args.days} days, {args.sensors} sensor(s), {files:,} segments (built in {built:.0f} s)")

        rows.append(
            ("full listing (before)", *best_of(args.repeat, lambda: sum(len(zone.segments(s)) for s in Stream)))
        )
        start = time.perf_counter()
        cursor, listed = tick(zone, SensorCursor(), first_hour)
        rows.append(("first tick (empty cursor)", time.perf_counter() - start, listed))
        rows.append(("steady tick", *best_of(args.repeat, lambda: tick(zone, cursor, first_hour)[1])))
        steady_listing = best_of(
            args.repeat, lambda: len(list_candidates(zone, cursor, first_hour, reach_minutes=REACH_MINUTES).segments)
        )
        rows.append(("  of which listing", *steady_listing))
        late = template_segments(LandingZone(Path(folder) / "late"), late_hour)[Stream.OCCURRENCES]
        late_folder = f"{zone.root}/occurrences/date={late_hour:%Y-%m-%d}/hour={late_hour:%H}"
        zone.filesystem.copy_file(late.path, f"{late_folder}/{late.name}")
        rows.append(("tick after a late segment", *best_of(1, lambda: tick(zone, cursor, first_hour)[1])))
        rows.append(
            (
                "ingestion frame (28 h)",
                *best_of(args.repeat, lambda: sum(len(segments_for_hours(zone, s, frame)) for s in Stream)),
            )
        )
        text = cursor.serialize()
        round_trip, _ = best_of(args.repeat, lambda: len(SensorCursor.parse(cursor.serialize()).requested))
    print(f"{'what':<28} {'seconds':>9} {'segments listed':>16}")
    for what, seconds, count in rows:
        print(f"{what:<28} {seconds:>9.3f} {count:>16,}")
    print(f"cursor: {len(text.encode()):,} bytes, written and read back in {round_trip:.4f} s")


if __name__ == "__main__":
    main()
