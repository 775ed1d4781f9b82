"""Deliver a simulated day into the landing zone the way the site's sensors would: segment by segment.

One sensor per zone writes each stream in segments of ``segment_minutes`` (demographics: one per
window), rows shuffled, through ``LandingZone.write`` only. Segments arrive shortly after their
window closes; some arrive hours late, some twice (the same file again, same segment id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from individ.contract import DIRECTIONS, LandingZone, Stream
from individ.simulator.parameters import SimulationParameters
from individ.simulator.sensor_view import SensorDay
from individ.simulator.visitors import Topology
from individ.site_config import SiteConfig

_MS = pa.timestamp("ms", tz="UTC")


def sensor_ids(site: SiteConfig) -> tuple[str, ...]:
    """The simulated sensor of each camera: one per zone (cameras without a zone share one)."""
    return tuple(f"sensor-{camera.zone}" if camera.zone else "sensor-site" for camera in site.cameras)


@dataclass(frozen=True)
class _Batch:
    """One segment's rows before delivery."""

    stream: Stream
    sensor_id: str
    window_start: int  # epoch seconds
    window_end: int
    table: pa.Table


@dataclass(frozen=True)
class Delivery:
    """One write into the landing zone (a re-delivery is a second Delivery of the same segment)."""

    stream: str
    sensor_id: str
    segment_id: str
    window_start: int
    delivered_at: int  # simulated epoch seconds
    late: bool
    duplicate: bool


def _segment_table(rows: pl.DataFrame, time_column: str, topology: Topology) -> pa.Table:
    """Contract columns for one segment: camera ids and directions from their indices, times as UTC ms."""
    camera = pa.array(rows["camera"].to_numpy().astype(np.int32))
    indexed = ["camera", time_column, *(["direction"] if "direction" in rows.columns else [])]
    table = rows.drop(indexed).to_arrow()
    table = table.append_column("camera_id", pa.DictionaryArray.from_arrays(camera, pa.array(topology.camera_ids)))
    table = table.append_column(time_column, pa.array(rows[time_column].to_numpy() * 1000, pa.int64()).cast(_MS))
    if "direction" in rows.columns:
        direction = pa.array(rows["direction"].to_numpy().astype(np.int32))
        table = table.append_column("direction", pa.DictionaryArray.from_arrays(direction, pa.array(DIRECTIONS)))
    return table


def batches(
    rng: np.random.Generator, site: SiteConfig, topology: Topology, params: SimulationParameters, sensor: SensorDay
) -> list[_Batch]:
    """Cut each stream into per-sensor segments and shuffle the rows inside each one.

    Real and fictitious occurrences go into the same segments, indistinguishable as in the contract.
    """
    names, owner_of_camera = np.unique(np.array(sensor_ids(site)), return_inverse=True)
    segment = params.segment_minutes * 60
    real_direction = np.array([DIRECTIONS.index(name) for name in topology.directions], dtype=np.int8)
    occurrences = pl.DataFrame(
        {
            "camera": np.concatenate([sensor.real_camera, sensor.fictitious_camera]),
            "observed_at": np.concatenate([sensor.real_observed_at, sensor.fictitious_observed_at]),
            "group_id": np.concatenate([sensor.real_group, sensor.fictitious_group]).astype(np.int16),
            "direction": np.concatenate([real_direction[sensor.real_camera], sensor.fictitious_direction]),
        }
    )
    streams = [
        (Stream.OCCURRENCES, segment, occurrences, "observed_at"),
        (Stream.DEMOGRAPHICS, site.privacy.demographics_window_minutes * 60, sensor.demographics, "window_start"),
        (Stream.HEARTBEATS, segment, sensor.heartbeats, "minute_start"),
    ]
    result = []
    for stream, length, frame, time_column in streams:
        if frame.height == 0:
            continue
        all_windows = (frame[time_column].to_numpy() // length) * length
        all_owners = owner_of_camera[frame["camera"].to_numpy()]
        shuffled = rng.permutation(frame.height)
        order = shuffled[np.lexsort((all_windows[shuffled], all_owners[shuffled]))]  # stable: shuffled within
        window, owner = all_windows[order], all_owners[order]
        ordered = frame[order]
        cut = np.flatnonzero((window[1:] != window[:-1]) | (owner[1:] != owner[:-1])) + 1
        for begin, end in zip(np.r_[0, cut], np.r_[cut, order.size], strict=True):
            start = int(window[begin])
            table = _segment_table(ordered.slice(int(begin), int(end - begin)), time_column, topology)
            result.append(_Batch(stream, str(names[owner[begin]]), start, start + length, table))
    return result


@dataclass(frozen=True)
class _Planned:
    delivered_at: int
    batch: _Batch
    late: bool
    duplicate: bool


def plan_deliveries(rng: np.random.Generator, params: SimulationParameters, items: list[_Batch]) -> list[_Planned]:
    """When each segment arrives: shortly after its window, hours late for a few, and twice for a few."""
    imperfections = params.imperfections.effective()
    n = len(items)
    delay = np.rint(params.delivery_delay_median_seconds * np.exp(0.5 * rng.standard_normal(n))).astype(np.int64)
    late = rng.random(n) < imperfections.late_segment_rate
    low, high = imperfections.late_delay_hours
    delay += np.where(late, np.rint(rng.uniform(low, high, n) * 3600).astype(np.int64), 0)
    again = rng.random(n) < imperfections.duplicate_segment_rate
    again_after = rng.integers(300, 7200, size=n)
    planned = []
    for i, batch in enumerate(items):
        arrival = batch.window_end + int(delay[i])
        planned.append(_Planned(arrival, batch, bool(late[i]), False))
        if again[i]:
            planned.append(_Planned(arrival + int(again_after[i]), batch, bool(late[i]), True))
    planned.sort(key=lambda p: (p.delivered_at, p.batch.stream.value, p.batch.sensor_id, p.batch.window_start))
    return planned


def deliver(
    zone: LandingZone,
    site: SiteConfig,
    planned: Sequence[_Planned],
    progress: Callable[[int], object] | None = None,
    writers: int = 4,
) -> list[Delivery]:
    """Write the planned segments in arrival order, a few neighbours at a time so their fsyncs overlap.

    The same batch always yields the same segment id (and path), so a re-delivery rewrites the same file.
    """

    def write(item: _Planned) -> Delivery:
        batch = item.batch
        (segment,) = zone.write(batch.stream, batch.table, site_id=site.site.id, sensor_id=batch.sensor_id)
        return Delivery(
            batch.stream.value,
            batch.sensor_id,
            segment.segment_id,
            batch.window_start,
            item.delivered_at,
            item.late,
            item.duplicate,
        )

    done: list[Delivery] = []
    with ThreadPoolExecutor(max_workers=writers) as pool:
        for first in range(0, len(planned), writers):
            chunk = planned[first : first + writers]
            done.extend(pool.map(write, chunk))
            if progress is not None:
                progress(len(chunk))
    return done


def write_malformed(zone: LandingZone, site: SiteConfig, hour: int, count: int) -> list[str]:
    """Drop corrupt files that look like occurrence segments (tests of quarantine); the only bypass of the writer."""
    moment = dt.datetime.fromtimestamp(hour, dt.UTC)
    folder = f"{zone.root}/{Stream.OCCURRENCES.value}/date={moment:%Y-%m-%d}/hour={moment:%H}"
    zone.filesystem.create_dir(folder, recursive=True)
    paths = []
    for i in range(count):
        path = f"{folder}/occ-sensor-malformed-{moment:%Y%m%dT%H}-{i:020d}.parquet"
        with zone.filesystem.open_output_stream(path) as handle:
            handle.write(f"PAR1 not a parquet segment {site.site.id} {i}".encode())
        paths.append(path)
    return paths
