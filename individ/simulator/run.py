"""Run the simulator: days of shoppers -> the sensors' segments in the landing zone + ground truth apart."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl
from tqdm import tqdm

from individ.contract import N_GROUPS, LandingZone
from individ.simulator import delivery, truth
from individ.simulator.parameters import SimulationParameters
from individ.simulator.sensor_view import SensorDay, observe_day
from individ.simulator.visitors import Day, DayClock, Topology, simulate_day
from individ.site_config import SiteConfig

TRUTH_TABLES = (
    "true_flows_hourly",
    "true_flows_daily",
    "true_store_visits",
    "true_footfall_hourly",
    "true_demographics",
    "deliveries",
)


@dataclass(frozen=True)
class SimulationResult:
    landing: str
    truth: Path
    meta: dict[str, object]
    occurrences: int  # written, real and fictitious, over all days


def _rngs(seed: int, date: dt.date) -> tuple[np.random.Generator, ...]:
    """Independent streams per day and component, so that one day or part never shifts another."""
    children = np.random.SeedSequence([seed, date.toordinal()]).spawn(4)
    return tuple(np.random.default_rng(child) for child in children)


def simulate(
    site: SiteConfig,
    params: SimulationParameters,
    data: str | os.PathLike[str],
    start: dt.date,
    days: int = 1,
    seed: int = 0,
    delivered_until: dt.datetime | None = None,
    progress: bool | None = None,
) -> SimulationResult:
    """Simulate ``days`` local days from ``start``; write events to ``<data>/landing`` and truth to ``<data>/truth``.

    ``delivered_until`` withholds the segments that would arrive later (run again with a later time, or
    none, to deliver the rest: the same seed rewrites identical segments and adds the missing ones).
    """
    data_dir = Path(data)
    zone = LandingZone(data_dir / "landing")
    topology = Topology.of(site)
    cutoff = None if delivered_until is None else int(delivered_until.astimezone(dt.UTC).timestamp())
    max_lag = site.flows.max_lag_minutes * 60
    show = sys.stderr.isatty() if progress is None else progress
    tables: dict[str, list[pl.DataFrame]] = {name: [] for name in TRUTH_TABLES}
    day_meta = []
    occurrences = 0
    segments = {"delivered": 0, "late": 0, "duplicate": 0, "withheld": 0, "malformed": 0}
    with tqdm(total=days, desc="simulate", unit="day", disable=not show) as bar:
        for offset in range(days):
            date = start + dt.timedelta(days=offset)
            visitors_rng, sensor_rng, delivery_rng, direction_rng = _rngs(seed, date)
            clock = DayClock.of(site, params, date)
            bar.set_postfix_str(f"{date} visitors")
            day = simulate_day(visitors_rng, topology, params, clock)
            bar.set_postfix_str(f"{date} sensor")
            seen = observe_day(sensor_rng, site, topology, params, day, direction_rng)
            bar.set_postfix_str(f"{date} truth")
            hourly = truth.flows_hourly(day, seen, topology, max_lag)
            tables["true_flows_hourly"].append(hourly)
            tables["true_flows_daily"].append(
                hourly.group_by("from_camera", "to_camera")
                .agg(pl.col("pairs", "pairs_observed", "same_group_pairs").sum())
                .select(pl.lit(date).alias("date"), pl.all())
                .sort("from_camera", "to_camera")
            )
            tables["true_store_visits"].append(truth.store_visits(day, topology))
            tables["true_footfall_hourly"].append(truth.footfall_hourly(day, seen, topology))
            tables["true_demographics"].append(truth.demographics(day, seen, topology))
            planned = delivery.plan_deliveries(
                delivery_rng, params, delivery.batches(delivery_rng, site, topology, params, seen)
            )
            due = [item for item in planned if cutoff is None or item.delivered_at <= cutoff]
            bar.set_postfix_str(f"{date} writing {len(due)} segments")
            with tqdm(
                total=len(due), desc=f"{date} segments", unit="seg", leave=False, disable=not show
            ) as segments_bar:
                done = delivery.deliver(zone, site, due, progress=segments_bar.update)
            tables["deliveries"].append(_deliveries_frame(done))
            segments["delivered"] += len(done)
            segments["late"] += sum(d.late and not d.duplicate for d in done)
            segments["duplicate"] += sum(d.duplicate for d in done)
            segments["withheld"] += len(planned) - len(due)
            if offset == 0 and params.imperfections.malformed_segments:
                segments["malformed"] += len(
                    delivery.write_malformed(zone, site, seen.hour0 + 3600, params.imperfections.malformed_segments)
                )
            day_meta.append(_day_meta(date, day, seen, topology))
            occurrences += seen.real_camera.size + seen.fictitious_camera.size
            bar.update(1)
    truth_dir = data_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    for name, frames in tables.items():
        pl.concat(frames, how="vertical").write_parquet(truth_dir / f"{name}.parquet")
    meta = _meta(site, params, start, days, seed, day_meta, segments, delivered_until)
    (truth_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return SimulationResult(landing=zone.root, truth=truth_dir, meta=meta, occurrences=occurrences)


def _deliveries_frame(done: list[delivery.Delivery]) -> pl.DataFrame:
    frame = pl.DataFrame(
        [asdict(d) for d in done],
        schema={
            "stream": pl.String,
            "sensor_id": pl.String,
            "segment_id": pl.String,
            "window_start": pl.Int64,
            "delivered_at": pl.Int64,
            "late": pl.Boolean,
            "duplicate": pl.Boolean,
        },
    )
    return frame.with_columns(
        pl.from_epoch(c, time_unit="s").dt.replace_time_zone("UTC").dt.cast_time_unit("ms")
        for c in ("window_start", "delivered_at")
    )


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def _day_meta(date: dt.date, day: Day, seen: SensorDay, topology: Topology) -> dict[str, object]:
    real_emitted = int(seen.real_camera.size)
    fictitious = int(seen.fictitious_camera.size)
    return {
        "date": date.isoformat(),
        "opening_utc": _iso(day.clock.opening),
        "closing_utc": _iso(day.clock.closing),
        "sensor_start_utc": _iso(day.clock.sensor_start),
        "sensor_end_utc": _iso(day.clock.sensor_end),
        "persons": day.persons,
        "trips": day.trips,
        "store_visits": int(day.visits.store.size),
        "real_passes": int(day.passes.time.size),
        "missed": int(seen.pass_missed.sum()),
        "lost_in_outage": int(seen.pass_lost.sum()),
        "double_counts": int(seen.real_is_double.sum()),
        "real_emitted": real_emitted,
        "fictitious_emitted": fictitious,
        "occurrences_emitted": real_emitted + fictitious,
        "demographic_rows": seen.demographics.height,
        "heartbeat_rows": seen.heartbeats.height,
        "outages": [
            {"camera_id": o.camera, "start": _iso(o.start), "end": _iso(o.end), "heartbeats": o.heartbeats}
            for o in seen.outages
        ],
        "clock_skew_seconds": dict(zip(topology.camera_ids, seen.skew_seconds.tolist(), strict=True)),
    }


def _meta(
    site: SiteConfig,
    params: SimulationParameters,
    start: dt.date,
    days: int,
    seed: int,
    day_meta: list[dict[str, object]],
    segments: dict[str, int],
    delivered_until: dt.datetime | None,
) -> dict[str, object]:
    return {
        "site_id": site.site.id,
        "timezone": site.site.timezone,
        "seed": seed,
        "start_date": start.isoformat(),
        "days": day_meta,
        "p": params.p,
        "p_by_camera": params.p_by_camera,
        "linkage": params.linkage,
        "visitors_per_hour": params.visitors_per_hour,
        "max_lag_minutes": site.flows.max_lag_minutes,
        "n_groups": N_GROUPS,
        "chance_same_group": 1 / N_GROUPS,
        "fictitious_min_members": site.privacy.fictitious.min_members,
        "imperfections": params.imperfections.effective().model_dump(mode="json"),
        "segments": segments,
        "delivered_until": None if delivered_until is None else delivered_until.isoformat(),
        "sensor_of_camera": dict(zip((c.id for c in site.cameras), delivery.sensor_ids(site), strict=True)),
        "parameters": params.model_dump(mode="json"),
        "tables": [f"{name}.parquet" for name in TRUTH_TABLES],
    }
