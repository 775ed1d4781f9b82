"""Generated contract data for the audit tests: a small site with a known truth, good or broken on purpose.

Persons enter, may visit the store, and leave; each sighting lands in the person's own group with
probability ``p_same`` and in a random group otherwise (the sensor's measured behaviour, not its
mechanism). Fictitious persons follow the shared plan; demographics are aggregated per camera and
window with small cells merged into unknown/unknown, as the sensor does. Each ``Breakage`` flag breaks
one privacy property the audit must catch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from individ.contract import AGE_BANDS, LandingZone, Stream
from individ.fictitious import draw_fictitious_hour, plan_per_group
from individ.site_config import SiteConfig, parse_site_config

START = dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC)
SITE_ID = "test-mall"
SENSOR_ID = "sensor-1"
_TS = pa.timestamp("ms", tz="UTC")
_KNOWN_BANDS = AGE_BANDS[:-1]


@dataclass(frozen=True)
class Breakage:
    no_fictitious: bool = False  # the sensor adds no fictitious persons (plan published as 0)
    demographics_per_person: bool = False  # one demographics row per person at the moment of passing
    groups_from_gender: bool = False  # group ids 0-499 for women, 500-999 for men


def site_config(entrance_per_hour: float = 800.0, min_members: float = 3.0, noise_sigma: float = 0.05) -> SiteConfig:
    door = entrance_per_hour * 0.4
    return parse_site_config(
        {
            "site": {"id": SITE_ID, "name": "Test Mall", "timezone": "Europe/Paris"},
            "stores": [{"id": "shop", "name": "Shop"}],
            "cameras": [
                {
                    "id": "entrance",
                    "source": "simulated",
                    "role": "entrance",
                    "expected_passes_per_hour": entrance_per_hour,
                },
                {
                    "id": "shop-in",
                    "source": "simulated",
                    "role": "store_door_in",
                    "store": "shop",
                    "expected_passes_per_hour": door,
                },
                {
                    "id": "shop-out",
                    "source": "simulated",
                    "role": "store_door_out",
                    "store": "shop",
                    "expected_passes_per_hour": door,
                },
                {"id": "exit", "source": "simulated", "role": "exit", "expected_passes_per_hour": entrance_per_hour},
            ],
            "privacy": {"noise_sigma": noise_sigma, "fictitious": {"min_members": min_members}},
        }
    )


def _sightings(rng: np.random.Generator, config: SiteConfig, hours: int) -> dict[str, np.ndarray]:
    """Real passes: (camera index, second since START, person, gender, age band)."""
    entrance = config.camera("entrance").expected_passes(0)
    n = int(rng.poisson(entrance * hours))
    arrive = rng.uniform(0, hours * 3600, n)
    visits = rng.random(n) < 0.4
    shop_in = arrive + rng.uniform(60, 600, n)
    shop_out = shop_in + rng.uniform(120, 900, n)
    leave = np.where(visits, shop_out, arrive) + rng.uniform(120, 1200, n)
    person = np.arange(n)
    cams = [np.zeros(n, int), np.ones(visits.sum(), int), np.full(visits.sum(), 2), np.full(n, 3)]
    times = [arrive, shop_in[visits], shop_out[visits], leave]
    persons = [person, person[visits], person[visits], person]
    camera = np.concatenate(cams)
    second = np.concatenate(times).astype(np.int64)
    who = np.concatenate(persons)
    inside = second < hours * 3600
    # The visitor mix drifts through the day (families, then office workers, ...), as it does in a mall.
    phase = 0.7 * np.sin(2 * np.pi * arrive / (7.3 * 3600)) + 0.3 * np.sin(2 * np.pi * arrive / (2.1 * 3600) + 1)
    female = 0.46 + 0.2 * phase
    draw = rng.random(n)
    gender = np.where(draw < female, "female", np.where(draw < 0.92, "male", "unknown"))
    young, old = (
        np.array([0.3, 0.3, 0.15, 0.1, 0.05, 0.03, 0.01, 0.01]),
        np.array([0.02, 0.08, 0.1, 0.15, 0.2, 0.2, 0.15, 0.1]),
    )
    mix = (0.5 + 0.4 * phase)[:, None] * young + (0.5 - 0.4 * phase)[:, None] * old
    band = (rng.random(n)[:, None] > np.cumsum(mix, axis=1)).sum(axis=1)
    age = np.where(rng.random(n) < 0.05, "unknown", np.array(_KNOWN_BANDS)[np.minimum(band, 7)])
    return {
        "camera": camera[inside],
        "second": second[inside],
        "person": who[inside],
        "gender": gender[who[inside]],
        "age": age[who[inside]],
    }


def _groups(
    rng: np.random.Generator, sightings: dict[str, np.ndarray], p_same: float, breakage: Breakage
) -> np.ndarray:
    n_persons = int(sightings["person"].max()) + 1 if sightings["person"].size else 0
    home = rng.integers(0, 1000, n_persons)[sightings["person"]]
    random = rng.integers(0, 1000, sightings["person"].size)
    groups = np.where(rng.random(sightings["person"].size) < p_same, home, random)
    if breakage.groups_from_gender:
        male = np.where(sightings["gender"] == "unknown", rng.random(groups.size) < 0.5, sightings["gender"] == "male")
        groups = groups % 500 + 500 * male
    return groups.astype(np.int16)


def _demographic_rows(
    config: SiteConfig, cams: list[str], s: dict[str, np.ndarray], breakage: Breakage
) -> dict[str, Any]:
    minutes = config.privacy.demographics_window_minutes
    if breakage.demographics_per_person:
        starts = [START + dt.timedelta(seconds=int(x)) for x in s["second"]]
        n = len(starts)
        return {
            "camera_id": [cams[c] for c in s["camera"]],
            "window_start": pa.array(starts, _TS),
            "window_minutes": pa.array([minutes] * n, pa.int16()),
            "age_band": list(s["age"]),
            "gender": list(s["gender"]),
            "count": pa.array([1] * n, pa.int32()),
        }
    window = s["second"] // (minutes * 60)
    rows: dict[str, list[Any]] = {k: [] for k in ("camera_id", "window_start", "age_band", "gender", "count")}
    for c, camera in enumerate(cams):
        for w in np.unique(window[s["camera"] == c]):
            mask = (s["camera"] == c) & (window == w)
            cells: dict[tuple[str, str], int] = {}
            for age, gender in zip(s["age"][mask], s["gender"][mask], strict=True):
                cells[(age, gender)] = cells.get((age, gender), 0) + 1
            merged = {k: v for k, v in cells.items() if v >= config.privacy.min_cell_size}
            small = sum(v for k, v in cells.items() if v < config.privacy.min_cell_size)
            if small:
                merged[("unknown", "unknown")] = merged.get(("unknown", "unknown"), 0) + small
            for (age, gender), count in merged.items():
                rows["camera_id"].append(camera)
                rows["window_start"].append(START + dt.timedelta(minutes=int(w) * minutes))
                rows["age_band"].append(age)
                rows["gender"].append(gender)
                rows["count"].append(count)
    n = len(rows["count"])
    return {
        **rows,
        "window_start": pa.array(rows["window_start"], _TS),
        "window_minutes": pa.array([minutes] * n, pa.int16()),
        "count": pa.array(rows["count"], pa.int32()),
    }


def generate(
    root: Path,
    config: SiteConfig,
    *,
    hours: int = 3,
    seed: int = 7,
    p_same: float = 0.3,
    breakage: Breakage = Breakage(),
) -> LandingZone:
    """Write ``hours`` hours from START of occurrences, demographics and heartbeats into ``root``."""
    rng = np.random.default_rng(seed)
    landing = LandingZone(root)
    cams = [camera.id for camera in config.cameras]
    s = _sightings(rng, config, hours)
    groups = _groups(rng, s, p_same, breakage)
    camera_of = list(s["camera"])
    seconds = list(s["second"])
    group_of = list(groups)
    fictitious_minutes: dict[tuple[int, int], int] = {}
    plans: dict[tuple[int, int], float] = {}
    for c, camera in enumerate(config.cameras):
        for h in range(hours):
            local_hour = (START + dt.timedelta(hours=h)).astimezone(config.tz).hour
            expected = camera.expected_passes(local_hour)
            plan = 0.0 if breakage.no_fictitious else plan_per_group(expected, config.privacy.fictitious.min_members)
            plans[(c, h)] = plan
            offsets, fgroups = draw_fictitious_hour(rng, plan)
            for offset, group in zip(offsets, fgroups, strict=True):
                camera_of.append(c)
                seconds.append(h * 3600 + int(offset))
                group_of.append(group)
                key = (c, (h * 3600 + int(offset)) // 60)
                fictitious_minutes[key] = fictitious_minutes.get(key, 0) + 1
    order = rng.permutation(len(seconds))
    directions = {"entrance": "in", "exit": "out"}
    landing.write(
        Stream.OCCURRENCES,
        {
            "camera_id": [cams[camera_of[i]] for i in order],
            "observed_at": pa.array([START + dt.timedelta(seconds=int(seconds[i])) for i in order], _TS),
            "group_id": pa.array([group_of[i] for i in order], pa.int16()),
            "direction": [directions.get(cams[camera_of[i]], "unknown") for i in order],
        },
        site_id=SITE_ID,
        sensor_id=SENSOR_ID,
    )
    landing.write(
        Stream.DEMOGRAPHICS, _demographic_rows(config, cams, s, breakage), site_id=SITE_ID, sensor_id=SENSOR_ID
    )
    real_minutes = np.zeros((len(cams), hours * 60), int)
    np.add.at(real_minutes, (s["camera"], s["second"] // 60), 1)
    hb: dict[str, list[Any]] = {
        k: [] for k in ("camera_id", "minute_start", "real", "fict", "plan", "p50", "p99", "epoch")
    }
    for c, camera in enumerate(cams):
        for m in range(hours * 60):
            minute = START + dt.timedelta(minutes=m)
            hb["camera_id"].append(camera)
            hb["minute_start"].append(minute)
            hb["real"].append(int(real_minutes[c, m]))
            hb["fict"].append(fictitious_minutes.get((c, m), 0))
            hb["plan"].append(plans[(c, m // 60)])
            hb["p50"].append(float(rng.uniform(6, 12)))
            hb["p99"].append(float(rng.uniform(25, 60)))
            hb["epoch"].append(int(minute.timestamp()) // 86400)
    n = len(hb["camera_id"])
    landing.write(
        Stream.HEARTBEATS,
        {
            "camera_id": hb["camera_id"],
            "minute_start": pa.array(hb["minute_start"], _TS),
            "frames_read": pa.array([600] * n, pa.int32()),
            "frames_processed": pa.array([600] * n, pa.int32()),
            "frames_dropped": pa.array([0] * n, pa.int32()),
            "frames_corrupt": pa.array([0] * n, pa.int32()),
            "persons_detected": pa.array(hb["real"], pa.int32()),
            "occurrences_emitted": pa.array(hb["real"], pa.int32()),
            "fictitious_emitted": pa.array(hb["fict"], pa.int32()),
            "fictitious_plan_per_group": pa.array(hb["plan"], pa.float64()),
            "stream_status": ["ok"] * n,
            "latency_p50_ms": pa.array(hb["p50"], pa.float64()),
            "latency_p99_ms": pa.array(hb["p99"], pa.float64()),
            "lsh_key_epoch": pa.array(hb["epoch"], pa.int64()),
        },
        site_id=SITE_ID,
        sensor_id=SENSOR_ID,
    )
    return landing
