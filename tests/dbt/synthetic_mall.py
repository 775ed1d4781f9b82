"""A small, fast mall generator with known truth, writing the raw warehouse tables the dbt project reads.

Visitors enter, pass a corridor, visit a few stores (door in, dwell, door out) and leave. Each
person has a base group; each sighting keeps it with probability ``keep`` and otherwise gets a fresh
draw, so two sightings of one person share a group with probability about ``keep**2``. Fictitious
passes follow the shared plan (``individ.fictitious``), take their directions from the role's mix at a camera
with a counting line (``DEFAULT_DIRECTION_MIX``, drawn from a generator of their own so the rest of a seed's
draws stay the same), and are published in heartbeats as the sensor writes
them: a row per camera-minute, the person-following fields a camera-hour total on the hour's last row
(``per_minute_totals`` writes them per minute, as older sensors did: the same sums).
With ``double_count_rate`` the sensor emits that share of real sightings a second time 1-3 s later at
the same camera (a split track), the double drawing its group like any sighting of the person.
The truth (every sighting with its person) stays in memory for the tests; only anonymous rows go to
the warehouse.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from individ.fictitious import DEFAULT_DIRECTION_MIX, draw_directions, draw_fictitious_hour, plan_per_group
from individ.site_config import CameraRole

ROLES = ("entrance", "exit", "corridor", "store_door_in", "store_door_out")
DIRECTIONS = ("in", "out", "unknown")  # Scenario.direction indexes this
AGE_BANDS = ("18-27", "28-37", "38-47", "48-57")
GENDERS = ("female", "male")


@dataclass(frozen=True)
class MallLayout:
    entrances: int = 2
    exits: int = 2
    corridors: int = 1
    stores: int = 3

    def cameras(self) -> list[tuple[str, str, str | None, str]]:
        """(camera_id, role, store_id, zone) for every camera."""
        rows: list[tuple[str, str, str | None, str]] = []
        rows += [(f"entrance-{i}", "entrance", None, f"zone-{i % 2}") for i in range(self.entrances)]
        rows += [(f"exit-{i}", "exit", None, f"zone-{i % 2}") for i in range(self.exits)]
        rows += [(f"corridor-{i}", "corridor", None, f"zone-{i % 2}") for i in range(self.corridors)]
        for s in range(self.stores):
            rows.append((f"store-{s}-in", "store_door_in", f"store-{s}", f"zone-{s % 2}"))
            rows.append((f"store-{s}-out", "store_door_out", f"store-{s}", f"zone-{s % 2}"))
        return rows


@dataclass
class Scenario:
    """Every sighting (real and fictitious) with the truth kept beside it."""

    start: dt.datetime
    hours: int
    camera_ids: list[str]
    camera_idx: np.ndarray  # per sighting
    t: np.ndarray  # seconds since start
    group: np.ndarray
    person: np.ndarray  # -1 for fictitious
    direction: np.ndarray  # 0 in, 1 out, 2 unknown
    expected_per_hour: np.ndarray  # per camera, drives the fictitious plan
    plan: np.ndarray  # [camera, hour] fictitious plan per group
    n_groups: int
    max_lag_minutes: int
    is_double: np.ndarray  # per sighting: the sensor's second emission of a real pass

    def epoch(self, seconds: np.ndarray) -> np.ndarray:
        return int(self.start.timestamp()) + seconds

    def camera(self, name: str) -> int:
        return self.camera_ids.index(name)

    def true_flows(self) -> dict[tuple[str, str, int], int]:
        """Flow truth: {(origin camera, destination camera, origin hour since start): pairs of one person's passes,
        origin pass in the hour, destination pass 0 < lag <= max_lag_minutes later}."""
        real = (self.person >= 0) & ~self.is_double
        order = np.lexsort((self.t[real], self.person[real]))
        person, t, camera = self.person[real][order], self.t[real][order], self.camera_idx[real][order]
        flows: dict[tuple[str, str, int], int] = {}
        for step in range(1, 16):  # a visitor has at most a dozen passes, sorted by time
            lag = t[step:] - t[:-step]
            hit = (person[step:] == person[:-step]) & (lag > 0) & (lag <= 60 * self.max_lag_minutes)
            origins, destinations = camera[:-step][hit], camera[step:][hit]
            for a, b, hour in zip(
                origins.tolist(), destinations.tolist(), (t[:-step][hit] // 3600).tolist(), strict=True
            ):
                key = (self.camera_ids[a], self.camera_ids[b], hour)
                flows[key] = flows.get(key, 0) + 1
        return flows

    def real_passes(self, camera: str, hour: int) -> int:
        mask = (
            (self.person >= 0) & ~self.is_double & (self.camera_idx == self.camera(camera)) & (self.t // 3600 == hour)
        )
        return int(mask.sum())

    def double_counts(self) -> tuple[int, int]:
        """(doubles, real sightings emitted, doubles included) over the whole scenario."""
        return int(self.is_double.sum()), int((self.person >= 0).sum())

    def without_doubles(self) -> Scenario:
        """The same scenario as a sensor without double counts would have emitted it (every other sighting,
        its group included, unchanged)."""
        keep = ~self.is_double
        return replace(
            self,
            camera_idx=self.camera_idx[keep],
            t=self.t[keep],
            group=self.group[keep],
            person=self.person[keep],
            direction=self.direction[keep],
            is_double=self.is_double[keep],
        )


def generate(
    *,
    start: dt.datetime,
    hours: int,
    visitors_per_hour: float,
    keep: float,
    layout: MallLayout | None = None,
    min_members: float = 3.0,
    group_size_cv: float = 0.25,
    n_groups: int = 1000,
    max_lag_minutes: int = 30,
    double_count_rate: float = 0.0,
    seed: int = 0,
) -> Scenario:
    layout = layout or MallLayout()
    rng = np.random.default_rng(seed)
    cameras = layout.cameras()
    ids = [c[0] for c in cameras]
    entrances = np.array([i for i, c in enumerate(cameras) if c[1] == "entrance"])
    exits = np.array([i for i, c in enumerate(cameras) if c[1] == "exit"])
    corridors = np.array([i for i, c in enumerate(cameras) if c[1] == "corridor"])
    doors_in = np.array([i for i, c in enumerate(cameras) if c[1] == "store_door_in"])

    n = rng.poisson(visitors_per_hour * hours)
    # Visitors arrive during the day and leave before it ends, so every visit is complete.
    t_now = rng.uniform(0, hours * 3600 * 0.75, size=n)
    cams, times, persons, dirs = [], [], [], []

    def add(mask: np.ndarray, cam: np.ndarray, when: np.ndarray, direction: int) -> None:
        cams.append(cam[mask] if cam.shape else np.full(mask.sum(), cam))
        times.append(when[mask])
        persons.append(np.nonzero(mask)[0])
        dirs.append(np.full(mask.sum(), direction))

    everyone = np.ones(n, dtype=bool)
    add(everyone, rng.choice(entrances, size=n), t_now, 0)
    t_now = t_now + rng.uniform(30, 300, size=n)
    add(everyone, rng.choice(corridors, size=n), t_now, 2)
    n_visits = rng.integers(0, min(3, len(doors_in)) + 1, size=n)
    # Each visitor's stores are distinct: a store's door-in is followed by exactly one door-out.
    store_order = np.argsort(rng.random((n, len(doors_in))), axis=1)
    for visit in range(min(3, len(doors_in))):
        visiting = n_visits > visit
        store = store_order[:, visit]
        t_now = np.where(visiting, t_now + rng.uniform(30, 400, size=n), t_now)
        add(visiting, doors_in[store], t_now, 0)
        dwell = 60 + rng.gamma(2.0, 300.0, size=n)
        t_now = np.where(visiting, t_now + dwell, t_now)
        add(visiting, doors_in[store] + 1, t_now, 1)
    t_now = t_now + rng.uniform(30, 400, size=n)
    add(everyone, rng.choice(exits, size=n), t_now, 1)

    camera_idx = np.concatenate(cams).astype(np.int32)
    t = np.floor(np.concatenate(times)).astype(np.int64)
    person = np.concatenate(persons).astype(np.int64)
    direction = np.concatenate(dirs).astype(np.int8)
    inside = t < hours * 3600
    camera_idx, t, person, direction = camera_idx[inside], t[inside], person[inside], direction[inside]
    is_double = np.zeros(t.size, dtype=bool)
    if double_count_rate > 0:  # drawn only then, so scenarios without doubles keep their random stream
        doubled = np.flatnonzero(rng.random(t.size) < double_count_rate)
        double_t = t[doubled] + rng.integers(1, 4, size=doubled.size)
        doubled, double_t = doubled[double_t < hours * 3600], double_t[double_t < hours * 3600]
        camera_idx, person = np.r_[camera_idx, camera_idx[doubled]], np.r_[person, person[doubled]]
        t, direction = np.r_[t, double_t], np.r_[direction, direction[doubled]]
        is_double = np.r_[is_double, np.ones(doubled.size, dtype=bool)]

    weights = rng.lognormal(0.0, group_size_cv, size=n_groups)
    pi = weights / weights.sum()
    base = rng.choice(n_groups, size=n, p=pi)
    fresh = rng.choice(n_groups, size=t.size, p=pi)
    group = np.where(rng.random(t.size) < keep, base[person], fresh).astype(np.int16)

    expected = np.bincount(camera_idx, minlength=len(ids)) / hours
    plan = np.zeros((len(ids), hours))
    f_cam, f_t, f_group = [], [], []
    for c in range(len(ids)):
        for h in range(hours):
            plan[c, h] = plan_per_group(expected[c], min_members, n_groups)
            offsets, groups = draw_fictitious_hour(rng, plan[c, h], n_groups)
            f_cam.append(np.full(offsets.size, c))
            f_t.append(h * 3600 + offsets.astype(np.int64))
            f_group.append(groups)
    fict_t = np.concatenate(f_t)
    fict_cam = np.concatenate(f_cam)
    fict_direction = np.zeros(fict_t.size, dtype=np.int8)
    direction_rng = np.random.default_rng([seed, 1])
    for c, camera in enumerate(cameras):
        here = fict_cam == c
        drawn = draw_directions(direction_rng, DEFAULT_DIRECTION_MIX[CameraRole(camera[1])], int(here.sum()))
        fict_direction[here] = [DIRECTIONS.index(name) for name in drawn]
    return Scenario(
        start=start,
        hours=hours,
        camera_ids=ids,
        camera_idx=np.concatenate([camera_idx, fict_cam]).astype(np.int32),
        t=np.concatenate([t, fict_t]),
        group=np.concatenate([group, np.concatenate(f_group)]).astype(np.int16),
        person=np.concatenate([person, np.full(fict_t.size, -1)]),
        direction=np.concatenate([direction, fict_direction]),
        expected_per_hour=expected,
        plan=plan,
        n_groups=n_groups,
        max_lag_minutes=max_lag_minutes,
        is_double=np.r_[is_double, np.zeros(fict_t.size, dtype=bool)],
    )


def write_warehouse(
    scenario: Scenario,
    path: Path,
    *,
    layout: MallLayout | None = None,
    p_override: float | None = None,
    min_cell_size: int = 5,
    timezone: str = "UTC",
    per_minute_totals: bool = False,
) -> None:
    """Create the raw.* tables the dbt project reads, filled from the scenario (anonymous rows only)."""
    layout = layout or MallLayout()
    ids = np.array(scenario.camera_ids)
    now = dt.datetime.now(dt.UTC)
    observed = pa.array(scenario.epoch(scenario.t) * 1_000_000, pa.timestamp("us", tz="UTC"))
    occurrences = pa.table(
        {
            "schema_version": pa.array(np.ones(scenario.t.size, dtype=np.int16)),
            "site_id": pa.array(np.full(scenario.t.size, "test-mall")),
            "sensor_id": pa.array(np.full(scenario.t.size, "sensor-1")),
            "segment_id": pa.array(np.char.add("occ-", ids[scenario.camera_idx])),
            "camera_id": pa.array(ids[scenario.camera_idx]),
            "observed_at": observed,
            "group_id": pa.array(scenario.group),
            "direction": pa.array(np.array(DIRECTIONS)[scenario.direction]),
            "ingested_at": pa.array([now] * scenario.t.size, pa.timestamp("us", tz="UTC")),
        }
    )
    minutes = scenario.hours * 60
    real = scenario.person >= 0
    key = scenario.camera_idx.astype(np.int64) * minutes + scenario.t // 60
    size = len(ids) * minutes
    real_by_minute = np.bincount(key[real], minlength=size)
    fict_by_minute = np.bincount(key[~real], minlength=size)
    cam_of = np.repeat(np.arange(len(ids)), minutes)
    minute_of = np.tile(np.arange(minutes), len(ids))
    closing = np.ones(size, dtype=bool) if per_minute_totals else minute_of % 60 == 59

    def totals(per_minute: np.ndarray) -> pa.Array:
        """Per minute, or the camera-hour's sum on the hour's last row and 0 on the others."""
        if per_minute_totals:
            return pa.array(per_minute.astype(np.int32))
        by_hour = per_minute.reshape(-1, 60).sum(axis=1)
        return pa.array(np.where(closing, np.repeat(by_hour, 60), 0).astype(np.int32))

    def latency(value: float) -> pa.Array:
        return pa.array(np.where(closing, value, np.nan), from_pandas=True)

    heartbeats = pa.table(
        {
            "schema_version": pa.array(np.ones(size, dtype=np.int16)),
            "site_id": pa.array(np.full(size, "test-mall")),
            "sensor_id": pa.array(np.full(size, "sensor-1")),
            "segment_id": pa.array(np.char.add("hea-", ids[cam_of])),
            "camera_id": pa.array(ids[cam_of]),
            "minute_start": pa.array(scenario.epoch(minute_of * 60) * 1_000_000, pa.timestamp("us", tz="UTC")),
            "frames_read": pa.array(np.full(size, 600, dtype=np.int32)),
            "frames_processed": totals(np.full(size, 590)),
            "frames_dropped": totals(np.full(size, 10)),
            "frames_corrupt": pa.array(np.zeros(size, dtype=np.int32)),
            "persons_detected": totals(real_by_minute * 3),
            "occurrences_emitted": totals(real_by_minute),
            "fictitious_emitted": totals(fict_by_minute),
            "fictitious_plan_per_group": pa.array(scenario.plan[cam_of, minute_of // 60]),
            "stream_status": pa.array(np.full(size, "ok")),
            "latency_p50_ms": latency(12.0),
            "latency_p99_ms": latency(40.0),
            "lsh_key_epoch": pa.array(np.ones(size, dtype=np.int64)),
            "ingested_at": pa.array([now] * size, pa.timestamp("us", tz="UTC")),
        }
    )
    demographics = _demographics(scenario, ids, now)
    cameras = layout.cameras()
    with duckdb.connect(str(path)) as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute("create schema if not exists raw")
        for name, table in (("occurrences", occurrences), ("heartbeats", heartbeats), ("demographics", demographics)):
            con.register("incoming", table)
            con.execute(f"create or replace table raw.{name} as select * from incoming")
            con.unregister("incoming")
        con.execute(
            "create or replace table raw.cameras (camera_id varchar, role varchar, store_id varchar, zone varchar,"
            " fictitious_share_in double, fictitious_share_out double, fictitious_share_unknown double)"
        )
        con.executemany(
            "insert into raw.cameras values (?, ?, ?, ?, ?, ?, ?)",
            [
                (*camera, *(DEFAULT_DIRECTION_MIX[CameraRole(camera[1])][name] for name in DIRECTIONS))
                for camera in cameras
            ],
        )
        con.execute("create or replace table raw.stores (store_id varchar, name varchar, zone varchar)")
        con.executemany(
            "insert into raw.stores values (?, ?, ?)",
            [(f"store-{s}", f"Store {s}", f"zone-{s % 2}") for s in range(layout.stores)],
        )
        con.execute(
            "create or replace table raw.site (site_id varchar, timezone varchar, max_lag_minutes integer,"
            " p_override double, min_cell_size integer, small_cells varchar, n_groups integer)"
        )
        con.execute(
            "insert into raw.site values ('test-mall', ?, ?, ?, ?, 'suppress', ?)",
            [timezone, scenario.max_lag_minutes, p_override, min_cell_size, scenario.n_groups],
        )


def _demographics(scenario: Scenario, ids: np.ndarray, now: dt.datetime) -> pa.Table:
    """15-minute counts per door-in camera, age band and gender of the real persons passing."""
    rng = np.random.default_rng(1)
    n_people = int(scenario.person.max()) + 1 if scenario.person.size else 0
    age = rng.integers(0, len(AGE_BANDS), size=max(n_people, 1))
    gender = rng.integers(0, len(GENDERS), size=max(n_people, 1))
    door_in = np.array(["-in" in name for name in ids])
    mask = (scenario.person >= 0) & door_in[scenario.camera_idx]
    cam, window = scenario.camera_idx[mask], scenario.t[mask] // 900
    a, g = age[scenario.person[mask]], gender[scenario.person[mask]]
    rows: dict[tuple[int, int, int, int], int] = {}
    for key in zip(cam.tolist(), window.tolist(), a.tolist(), g.tolist(), strict=True):
        rows[key] = rows.get(key, 0) + 1
    keys = list(rows)
    return pa.table(
        {
            "schema_version": pa.array([1] * len(keys), pa.int16()),
            "site_id": ["test-mall"] * len(keys),
            "sensor_id": ["sensor-1"] * len(keys),
            "segment_id": [f"dem-{ids[k[0]]}" for k in keys],
            "camera_id": [str(ids[k[0]]) for k in keys],
            "window_start": pa.array(
                [(int(scenario.start.timestamp()) + k[1] * 900) * 1_000_000 for k in keys], pa.timestamp("us", tz="UTC")
            ),
            "window_minutes": pa.array([15] * len(keys), pa.int16()),
            "age_band": [AGE_BANDS[k[2]] for k in keys],
            "gender": [GENDERS[k[3]] for k in keys],
            "count": pa.array([rows[k] for k in keys], pa.int32()),
            "ingested_at": pa.array([now] * len(keys), pa.timestamp("us", tz="UTC")),
        }
    )
