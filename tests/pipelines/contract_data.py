"""Small, known contract data for the pipeline tests, written through the real LandingZone.

A four-camera site (entrance, one store's door in and out, exit). Every visitor enters, visits
the store and leaves, so the true flows are known: entrance -> store-in is one pair per visitor
(whenever the lag is within the flow window). Groups follow the sensor's design: a visitor keeps
their own group at each camera with probability ``p``, otherwise lands in a random one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import yaml

from individ.contract import LandingZone, Segment, Stream
from individ.fictitious import draw_fictitious_hour, plan_per_group
from individ.site_config import SiteConfig, load_site_config

SITE_ID = "test-mall"
SENSOR_ID = "sensor-1"
CAMERAS = ("entrance", "shop-in", "shop-out", "exit")
# A winter day: Europe/Paris is UTC+1, so 10:00-12:00 UTC is 11:00-13:00 local.
DAY = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
EXPECTED_PASSES = 200.0
MIN_MEMBERS = 0.4


def write_site_config(folder: Path, landing: Path, *, small_cells: str = "merge_unknown") -> Path:
    cameras: list[dict[str, object]] = [
        {"id": "entrance", "source": "simulated", "role": "entrance", "zone": "main"},
        {"id": "shop-in", "source": "simulated", "role": "store_door_in", "store": "shop", "zone": "main"},
        {"id": "shop-out", "source": "simulated", "role": "store_door_out", "store": "shop", "zone": "main"},
        {"id": "exit", "source": "simulated", "role": "exit", "zone": "main"},
    ]
    for camera in cameras:
        camera["expected_passes_per_hour"] = EXPECTED_PASSES
        # Real passes cross a line ('in' or 'out'); every fictitious one is 'unknown', as configured here (and
        # as ``simulate`` draws them, which lets its heartbeats tell them apart).
        camera["counting_line"] = {"start": {"x": 0.5, "y": 0.0}, "end": {"x": 0.5, "y": 1.0}}
        camera["fictitious_directions"] = {"in": 0.0, "out": 0.0, "unknown": 1.0}
    config = {
        "site": {"id": SITE_ID, "name": "Test Mall", "timezone": "Europe/Paris"},
        "landing_zone": str(landing),
        "stores": [{"id": "shop", "name": "The Shop", "zone": "main"}],
        "cameras": cameras,
        "privacy": {"fictitious": {"min_members": MIN_MEMBERS}, "min_cell_size": 5, "small_cells": small_cells},
        "flows": {"max_lag_minutes": 30, "lateness_minutes": 120},
    }
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class HourData:
    """The rows of one simulated hour, per stream, before they go through the LandingZone writer."""

    occurrences: pa.Table
    demographics: pa.Table
    heartbeats: pa.Table
    real_passes: dict[str, int]
    fictitious: dict[str, int]


def simulate(
    config: SiteConfig, start: dt.datetime, *, hours: int = 2, visitors: int = 150, p: float = 0.6, seed: int = 0
) -> HourData:
    """``visitors`` per hour entering during ``hours`` hours from ``start``; passes after the end are cut."""
    rng = np.random.default_rng(seed)
    base = start.timestamp()
    span = 3600 * hours
    visitors *= hours
    enter = base + rng.integers(0, span, visitors)
    shop_in = enter + rng.integers(60, 300, visitors)
    shop_out = shop_in + rng.integers(300, 900, visitors)
    leave = shop_out + rng.integers(60, 300, visitors)
    own_group = rng.integers(0, 1000, visitors)
    times: list[np.ndarray] = []
    cams: list[str] = []
    groups: list[np.ndarray] = []
    directions: list[str] = []
    real: dict[str, int] = {}
    for camera, at, direction in zip(
        CAMERAS, (enter, shop_in, shop_out, leave), ("in", "in", "out", "out"), strict=True
    ):
        keep = at < base + span
        at = at[keep]
        group = np.where(rng.random(at.size) < p, own_group[keep], rng.integers(0, 1000, at.size))
        times.append(at)
        groups.append(group)
        cams.extend([camera] * at.size)
        directions.extend([direction] * at.size)
        real[camera] = int(at.size)
    fictitious: dict[str, int] = {}
    plan = plan_per_group(EXPECTED_PASSES, config.privacy.fictitious.min_members)
    for camera in CAMERAS:
        for hour in range(hours):
            offsets, fake_groups = draw_fictitious_hour(rng, plan)
            times.append(base + 3600 * hour + offsets)
            groups.append(fake_groups.astype(np.int64))
            cams.extend([camera] * offsets.size)
            directions.extend(["unknown"] * offsets.size)
            fictitious[camera] = fictitious.get(camera, 0) + int(offsets.size)
    occurrences = pa.table(
        {
            "camera_id": pa.array(cams, pa.string()),
            "observed_at": pa.array((np.concatenate(times) * 1000).astype(np.int64), pa.timestamp("ms", tz="UTC")),
            "group_id": pa.array(np.concatenate(groups).astype(np.int16)),
            "direction": pa.array(directions, pa.string()),
        }
    )
    return HourData(
        occurrences,
        _demographics(start, hours, real),
        _heartbeats(start, hours, occurrences, plan),
        real,
        fictitious,
    )


def _demographics(start: dt.datetime, hours: int, real: dict[str, int]) -> pa.Table:
    rows: dict[str, list] = {
        k: [] for k in ("camera_id", "window_start", "window_minutes", "age_band", "gender", "count")
    }
    for camera, n in real.items():
        for quarter in range(4 * hours):
            for age_band, gender, share in (
                ("28-37", "female", 0.5),
                ("38-47", "male", 0.3),
                ("unknown", "unknown", 0.2),
            ):
                rows["camera_id"].append(camera)
                rows["window_start"].append(start + dt.timedelta(minutes=15 * quarter))
                rows["window_minutes"].append(15)
                rows["age_band"].append(age_band)
                rows["gender"].append(gender)
                rows["count"].append(round(n / (4 * hours) * share))
    return pa.table(
        {
            **rows,
            "window_start": pa.array(rows["window_start"], pa.timestamp("ms", tz="UTC")),
            "window_minutes": pa.array(rows["window_minutes"], pa.int16()),
            "count": pa.array(rows["count"], pa.int32()),
        }
    )


def _heartbeats(start: dt.datetime, hours: int, occurrences: pa.Table, plan: float) -> pa.Table:
    """Per camera-minute health, with real/fictitious counts that add up to the occurrence rows."""
    minute_of = (occurrences.column("observed_at").cast(pa.int64()).to_numpy() // 60000) * 60
    camera_of = np.array(occurrences.column("camera_id").to_pylist())
    is_fake = np.array(occurrences.column("direction").to_pylist()) == "unknown"
    rows: dict[str, list] = {}
    base = int(start.timestamp())
    for camera in CAMERAS:
        here = camera_of == camera
        for minute in range(60 * hours):
            minute_epoch = base + minute * 60
            in_minute = here & (minute_of == minute_epoch)
            values = {
                "camera_id": camera,
                "minute_start": dt.datetime.fromtimestamp(minute_epoch, dt.UTC),
                "frames_read": 600,
                "frames_processed": 600,
                "frames_dropped": 0,
                "frames_corrupt": 0,
                "persons_detected": int((in_minute & ~is_fake).sum()),
                "occurrences_emitted": int((in_minute & ~is_fake).sum()),
                "fictitious_emitted": int((in_minute & is_fake).sum()),
                "fictitious_plan_per_group": plan,
                "stream_status": "ok",
                "latency_p50_ms": 40.0,
                "latency_p99_ms": 90.0,
                "lsh_key_epoch": 1,
            }
            for key, value in values.items():
                rows.setdefault(key, []).append(value)
    types = {
        "minute_start": pa.timestamp("ms", tz="UTC"),
        "fictitious_plan_per_group": pa.float64(),
        "latency_p50_ms": pa.float64(),
        "latency_p99_ms": pa.float64(),
        "lsh_key_epoch": pa.int64(),
    }
    return pa.table(
        {k: pa.array(v, types.get(k, pa.int32() if isinstance(v[0], int) else pa.string())) for k, v in rows.items()}
    )


def deliver(zone: LandingZone, data: HourData, streams: Iterable[Stream] = tuple(Stream)) -> list[Segment]:
    tables = {
        Stream.OCCURRENCES: data.occurrences,
        Stream.DEMOGRAPHICS: data.demographics,
        Stream.HEARTBEATS: data.heartbeats,
    }
    segments = []
    for stream in streams:
        segments += zone.write(stream, tables[stream], site_id=SITE_ID, sensor_id=SENSOR_ID)
    return segments


def load(path: Path) -> SiteConfig:
    return load_site_config(path)
