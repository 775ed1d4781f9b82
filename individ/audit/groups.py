"""Groups in the stored data: how many members, real or fictitious, each (camera, hour, group) cell has.

The product's first guarantee is that a stored group id never points at a small crowd: every
(camera, hour, group) cell that holds a real person holds at least 3 events that nobody can tell apart
(microaggregation into groups of 3). The sensor's plan, fixed in advance, adds ``ceil(min_members) - 1``
fictitious persons to every cell plus Poisson extras where traffic is low (``individ.fictitious``). So
the audit checks that no occupied cell is below that floor (a cell at the floor holds fictitious persons
only), that the published plan matches the configuration, and that the sensor added what it published.

Every final camera-hour is judged, including those in which the sensor started or stopped: the sensor
spreads the hour's whole plan over the part it covers and, at a clean stop, re-times the rest of it into
the part not yet released. What the audit still cannot excuse, and so reports as a failure, is an hour cut
short by a crash (SIGKILL, power loss): the rest of that hour's plan was never emitted, and its cells can
truly be below the floor. Hours not yet final (within ``flows.lateness_minutes`` of their end) are still
being written: counted, not judged.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from individ.audit.model import Guarantee, Section, Table, check, not_measured
from individ.contract import N_GROUPS
from individ.fictitious import fictitious_floor, plan_per_group
from individ.site_config import SiteConfig

PRODUCT_MIN_MEMBERS = 3.0  # the microaggregation-into-groups-of-3 equivalence the product claims
PLAN_Z_LIMIT = 4.0  # a camera-hour whose fictitious count is this many Poisson sds off the plan is off-plan
OFF_PLAN_LIMIT = 0.01
MINUTES_PER_HOUR = 60


def cell_counts(occurrences: pl.DataFrame) -> pl.DataFrame:
    """Members per occupied (camera, hour, group) cell."""
    return (
        occurrences.with_columns(pl.col("observed_at").dt.truncate("1h").alias("hour"))
        .group_by("camera_id", "hour", "group_id")
        .len("members")
    )


def camera_hours(heartbeats: pl.DataFrame) -> pl.DataFrame:
    """Per camera-hour: real and fictitious events the sensor reports, the published plan, and its runs at most.

    Each run of the sensor that covers part of an hour adds that hour's whole plan (spread over the part it
    covers), so an hour may hold several plans. A run shows as a block of consecutive heartbeat minutes, or as
    a second heartbeat for a minute (a restart within the minute); ``runs`` counts both, an upper bound on the
    runs (exact unless a restart falls just on a minute boundary).
    """
    with_hour = heartbeats.with_columns(pl.col("minute_start").dt.truncate("1h").alias("hour"))
    blocks = (
        with_hour.select("camera_id", "hour", "minute_start")
        .unique()
        .sort("camera_id", "minute_start")
        .with_columns(
            (
                (pl.col("minute_start") == pl.col("hour"))
                | (pl.col("minute_start").diff().over("camera_id") != dt.timedelta(minutes=1)).fill_null(True)
            ).alias("block_start")
        )
        .group_by("camera_id", "hour")
        .agg(pl.col("block_start").sum().alias("blocks"), pl.len().alias("minutes"))
    )
    return (
        with_hour.group_by("camera_id", "hour")
        .agg(
            pl.col("occurrences_emitted").sum().alias("real"),
            pl.col("fictitious_emitted").sum().alias("fictitious"),
            pl.col("fictitious_plan_per_group").max().alias("plan"),
            pl.len().alias("rows"),
        )
        .join(blocks, on=["camera_id", "hour"])
        .with_columns((pl.col("blocks") + pl.col("rows") - pl.col("minutes")).alias("runs"))
        .drop("blocks", "rows")
        .sort("camera_id", "hour")
    )


def _plan_shortfalls(config: SiteConfig, hours: pl.DataFrame) -> list[float]:
    """Per camera-hour, how far the published plan falls below what the configuration implies."""
    known = {camera.id: camera for camera in config.cameras}
    shortfalls = []
    for camera_id, hour, plan in hours.select("camera_id", "hour", "plan").iter_rows():
        if camera_id not in known:
            continue
        expected = known[camera_id].expected_passes(hour.astimezone(config.tz).hour)
        shortfalls.append(plan_per_group(expected, config.privacy.fictitious.min_members) - plan)
    return shortfalls


def measure_groups(
    config: SiteConfig, occurrences: pl.DataFrame, heartbeats: pl.DataFrame, now: dt.datetime | None = None
) -> Section:
    """Cells and the fictitious plan, judged on every final camera-hour (see the module's docstring)."""
    k = config.privacy.fictitious.min_members
    guarantees: list[Guarantee] = [
        check(
            "groups.min_members_configured",
            "The configured minimum members per group and camera-hour is at least the product's 3.",
            k,
            PRODUCT_MIN_MEMBERS,
            ">=",
            unit="members",
            detail="privacy.fictitious.min_members in the site configuration",
        )
    ]
    final_before = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(hours=1, minutes=config.flows.lateness_minutes)
    all_hours = camera_hours(heartbeats)
    hours = all_hours.filter(pl.col("hour") <= final_before)
    cells = cell_counts(occurrences).filter(pl.col("hour") <= final_before)
    figures: dict[str, object] = {
        "min_members_configured": k,
        "camera_hours": hours.height,
        "camera_hours_not_final": all_hours.height - hours.height,
        "interrupted_camera_hours": hours.filter((pl.col("minutes") < MINUTES_PER_HOUR) | (pl.col("runs") > 1)).height,
    }
    tables: list[Table] = []
    guarantees.append(_cells_guarantee(cells, k, figures, tables))
    claim_plan = "The fictitious plan published in heartbeats is at least what the configured minimum requires."
    claim_follow = "The sensor added the fictitious persons its published plan fixes (never topped up from data)."
    if hours.height == 0:
        reason = "no final camera-hour in the heartbeats" if all_hours.height else "no heartbeats stored"
        guarantees.append(not_measured("groups.plan_matches_config", claim_plan, 0.0, "<=", reason))
        guarantees.append(not_measured("groups.fictitious_follow_plan", claim_follow, OFF_PLAN_LIMIT, "<=", reason))
        return Section("groups", "Groups in the stored data", _EXPLANATION, figures, tables, guarantees)
    real = hours["real"].to_numpy().astype(float)
    fictitious = hours["fictitious"].to_numpy().astype(float)
    expected = hours["plan"].to_numpy() * N_GROUPS
    runs = hours["runs"].to_numpy().astype(float)
    off_plan = _off_plan(fictitious, expected, runs)
    shortfall = max(_plan_shortfalls(config, hours), default=float("nan"))
    total = real.sum() + fictitious.sum()
    mean_members = (real + fictitious) / N_GROUPS
    figures |= {
        "fictitious_share": round(float(fictitious.sum() / total), 4) if total else None,
        "mean_members_per_group_min": round(float(mean_members.min()), 3),
        "mean_members_per_group_median": round(float(np.median(mean_members)), 3),
        "camera_hours_off_plan": int(off_plan.sum()),
        "stored_vs_reported_events": [
            int(cells["members"].sum()),
            int(hours.select(pl.col("real") + pl.col("fictitious")).sum().item()),
        ],
    }
    per_camera = (
        hours.group_by("camera_id")
        .agg(pl.col("real").sum(), pl.col("fictitious").sum(), pl.col("plan").mean().alias("plan"))
        .sort("camera_id")
    )
    tables.append(
        Table(
            "Fictitious persons per camera (from heartbeats)",
            ["camera", "real", "fictitious", "fictitious share", "mean plan per group"],
            [
                [c, int(r), int(f), round(f / (r + f), 3) if r + f else None, round(p, 3)]
                for c, r, f, p in per_camera.iter_rows()
            ],
        )
    )
    guarantees.append(
        check(
            "groups.plan_matches_config",
            claim_plan,
            round(shortfall, 6),
            1e-6,
            "<=",
            unit="fictitious per group",
            detail="largest shortfall of the published plan against max(0, min_members - expected passes / 1000)",
        )
    )
    guarantees.append(
        check(
            "groups.fictitious_follow_plan",
            claim_follow,
            round(float(off_plan.mean()), 4),
            OFF_PLAN_LIMIT,
            "<=",
            unit="share of camera-hours",
            detail=f"{int(off_plan.sum())} of {hours.height} final camera-hours added a number of fictitious persons "
            f"more than {PLAN_Z_LIMIT:g} Poisson standard deviations below 1,000 x plan, or above it times the "
            "sensor runs the hour's heartbeats show",
        )
    )
    return Section("groups", "Groups in the stored data", _EXPLANATION, figures, tables, guarantees)


def _off_plan(fictitious: np.ndarray, expected: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """Camera-hours whose fictitious count is below one whole plan, or above one plan per sensor run.

    Below: the floor was not delivered (a sensor skipping its plan, or a crash). Above: more than the runs
    explain, i.e. topped up from data.
    """
    spread = np.sqrt(np.maximum(expected, 1e-9))
    below = (fictitious - expected) / spread < -PLAN_Z_LIMIT
    most = runs * expected
    above = (fictitious - most) / np.sqrt(np.maximum(most, 1e-9)) > PLAN_Z_LIMIT
    return np.where(expected > 0, below | above, fictitious > 0)


def _cells_guarantee(cells: pl.DataFrame, k: float, figures: dict[str, object], tables: list[Table]) -> Guarantee:
    floor = fictitious_floor(max(k, PRODUCT_MIN_MEMBERS))
    claim = (
        f"Every occupied (camera, hour, group) cell holds at least {floor} events, so every cell holding a real "
        f"person holds at least {floor + 1} indistinguishable events."
    )
    if cells.height == 0:
        return not_measured("groups.cells_below_min", claim, None, ">=", "no occurrences in final camera-hours")
    members = cells["members"].to_numpy()
    below = int((members < floor).sum())
    figures |= {
        "occupied_cells": int(members.size),
        "fictitious_floor": floor,
        "cells_below_floor": below,
        "cells_at_floor_share": round(float((members == floor).mean()), 4),
        "members_min": int(members.min()),
        "members_p5": float(np.percentile(members, 5)),
        "members_median": float(np.median(members)),
        "members_p95": float(np.percentile(members, 95)),
    }
    histogram = np.bincount(np.minimum(members, 10), minlength=11)[1:]
    tables.append(
        Table(
            "Members per occupied (camera, hour, group) cell",
            ["members", *[str(i) for i in range(1, 10)], "10+"],
            [["cells", *[int(x) for x in histogram]]],
        )
    )
    return check(
        "groups.cells_below_min",
        claim,
        int(members.min()),
        floor,
        ">=",
        unit="members",
        detail=f"{below} of {members.size} occupied cells of final camera-hours hold fewer than {floor} events; "
        f"cells at exactly {floor} hold fictitious persons only. The hours a sensor starts or stops in are judged "
        "too; an hour cut short by a crash cannot reach the floor and shows here.",
    )


_EXPLANATION = (
    "Each stored occurrence says only: at this camera, in this second, someone of group g passed. The cells "
    "(camera, hour, group) are counted from the landing zone; real and fictitious events are counted from the "
    "sensor's heartbeats (the occurrences themselves do not say which is which). Per group and camera-hour the "
    "sensor adds a fixed floor of ceil(min_members) - 1 fictitious persons plus Poisson(max(0, min_members - floor "
    "- expected passes / 1000)), a plan fixed in advance from expected traffic: a cell holding one real person "
    "therefore holds at least min_members events, and nobody can tell which of them is real. Knowing the floor "
    "tells how many real persons a cell holds, never which event is theirs. Topping cells up from what was "
    "actually seen would bias flows (-11 % at 1,000 visitors/h, -81 % at 200/h), so the plan never looks at "
    "the data; its mean and the number added per camera-hour are published in heartbeats. The hours in which the "
    "sensor started or stopped are judged like any other: it spreads the hour's whole plan over the part it "
    "covers, and at a clean stop re-times the rest into the part not yet released. An hour cut short by a crash "
    "lacks the rest of its plan; its cells can be below the floor, and this section then reports them."
)
