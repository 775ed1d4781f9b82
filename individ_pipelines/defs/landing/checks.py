"""Data-quality checks on the ingested raw streams, evaluated per partition window.

Each function reads the warehouse for [start, end) and returns one AssetCheckResult; the
ingestion asset yields them so they are recorded with the partition that produced the data.
Metadata names cameras and counts, never rows.
"""

from __future__ import annotations

import datetime as dt
import math

import dagster as dg
import duckdb
import polars as pl

from individ.audit.groups import camera_hours
from individ.contract import SCHEMA_VERSION, SCHEMAS, Stream
from individ.fictitious import plan_per_group
from individ.site_config import SiteConfig

OCCURRENCES = dg.AssetKey(["raw", "occurrences"])
DEMOGRAPHICS = dg.AssetKey(["raw", "demographics"])
HEARTBEATS = dg.AssetKey(["raw", "heartbeats"])
STREAM_ASSETS = {Stream.OCCURRENCES: OCCURRENCES, Stream.DEMOGRAPHICS: DEMOGRAPHICS, Stream.HEARTBEATS: HEARTBEATS}

CONTRACT_CHECK = "contract_version"
FRESHNESS_CHECK = "camera_freshness"
OUTAGE_CHECK = "camera_outages"
FICTITIOUS_CHECK = "fictitious_share_within_policy"
COMPLETENESS_CHECK = "occurrences_match_heartbeats"

# A camera whose last heartbeat is older than this at the window's end is stale.
FRESHNESS_TOLERANCE = dt.timedelta(minutes=5)
# More dropped frames than this share of frames read in a camera-hour counts as an outage.
MAX_DROPPED_SHARE = 0.05
# Fictitious persons added in a camera-hour may differ from the plan's Poisson mean by this many sd.
FICTITIOUS_SIGMAS = 5.0


def check_specs() -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(CONTRACT_CHECK, asset=key, description="Columns and schema_version match event contract v1.")
        for key in STREAM_ASSETS.values()
    ]
    return [
        *specs,
        dg.AssetCheckSpec(FRESHNESS_CHECK, asset=HEARTBEATS, description="Every camera reported up to the window end."),
        dg.AssetCheckSpec(
            OUTAGE_CHECK,
            asset=HEARTBEATS,
            description="No camera has heartbeat gaps, a stream not 'ok' or more than 5 % frames dropped.",
        ),
        dg.AssetCheckSpec(
            FICTITIOUS_CHECK,
            asset=HEARTBEATS,
            description="The published fictitious plan follows the site's policy and the sensor followed the plan.",
        ),
        dg.AssetCheckSpec(
            COMPLETENESS_CHECK,
            asset=OCCURRENCES,
            description="Occurrence rows per camera-hour equal the real + fictitious counts the heartbeats announce.",
        ),
    ]


def contract_version(
    connection: duckdb.DuckDBPyConnection, stream: Stream, start: dt.datetime, end: dt.datetime
) -> dg.AssetCheckResult:
    table = f"raw.{stream.value}"
    columns = [row[0] for row in connection.execute(f"DESCRIBE {table}").fetchall()]
    expected = [*SCHEMAS[stream].names, "ingested_at"]
    time_column = {"occurrences": "observed_at", "demographics": "window_start", "heartbeats": "minute_start"}
    versions = [
        row[0]
        for row in connection.execute(
            f"SELECT DISTINCT schema_version FROM {table} WHERE {time_column[stream.value]} >= ? "
            f"AND {time_column[stream.value]} < ?",
            [start, end],
        ).fetchall()
    ]
    passed = columns == expected and all(version == SCHEMA_VERSION for version in versions)
    return dg.AssetCheckResult(
        asset_key=STREAM_ASSETS[stream],
        check_name=CONTRACT_CHECK,
        passed=passed,
        metadata={"columns_match": columns == expected, "schema_versions": str(sorted(versions))},
    )


def camera_freshness(
    connection: duckdb.DuckDBPyConnection, config: SiteConfig, start: dt.datetime, end: dt.datetime
) -> dg.AssetCheckResult:
    latest = dict(
        connection.execute(
            "SELECT camera_id, max(minute_start) FROM raw.heartbeats WHERE minute_start >= ? AND minute_start < ? "
            "GROUP BY camera_id",
            [start, end],
        ).fetchall()
    )
    last_minute = end - dt.timedelta(minutes=1)
    stale = sorted(
        camera.id
        for camera in config.cameras
        if camera.id not in latest or latest[camera.id] < last_minute - FRESHNESS_TOLERANCE
    )
    return dg.AssetCheckResult(
        asset_key=HEARTBEATS,
        check_name=FRESHNESS_CHECK,
        passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"stale_cameras": ", ".join(stale) or "none", "cameras_reporting": len(latest)},
    )


def camera_outages(
    connection: duckdb.DuckDBPyConnection, config: SiteConfig, start: dt.datetime, end: dt.datetime
) -> dg.AssetCheckResult:
    minutes_expected = int((end - start).total_seconds() // 60)
    per_camera = {
        row[0]: row[1:]
        for row in connection.execute(
            """SELECT camera_id, count(DISTINCT minute_start), count(*) FILTER (WHERE stream_status <> 'ok'),
                      sum(frames_dropped), sum(frames_read)
               FROM raw.heartbeats WHERE minute_start >= ? AND minute_start < ? GROUP BY camera_id""",
            [start, end],
        ).fetchall()
    }
    problems = []
    for camera in config.cameras:
        minutes, not_ok, dropped, read = per_camera.get(camera.id, (0, 0, 0, 0))
        if minutes < minutes_expected:
            problems.append(f"{camera.id}: {minutes_expected - minutes} minutes without heartbeat")
        if not_ok:
            problems.append(f"{camera.id}: stream not ok for {not_ok} minutes")
        if read and dropped / read > MAX_DROPPED_SHARE:
            problems.append(f"{camera.id}: {dropped / read:.1%} frames dropped")
    return dg.AssetCheckResult(
        asset_key=HEARTBEATS,
        check_name=OUTAGE_CHECK,
        passed=not problems,
        metadata={"problems": "\n".join(problems) or "none", "cameras_with_problems": len(problems)},
    )


def fictitious_share(
    connection: duckdb.DuckDBPyConnection, config: SiteConfig, start: dt.datetime, end: dt.datetime
) -> dg.AssetCheckResult:
    """Every camera-hour's published plan is the policy's, and the sensor added one plan per run that hour.

    Each sensor run covering part of an hour adds the hour's whole plan over the part it covers (a restart
    within the hour adds a second), so the count must lie between one plan and one per run
    (``individ.audit.groups.camera_hours`` counts the runs, as the audit does). A crash loses the rest of the
    hour's plan and fails this check."""
    beats = connection.sql(
        """SELECT camera_id, minute_start, occurrences_emitted, fictitious_emitted, fictitious_plan_per_group
           FROM raw.heartbeats WHERE minute_start >= ? AND minute_start < ?""",
        params=[start, end],
    ).pl()
    plan_low = beats.group_by("camera_id", pl.col("minute_start").dt.truncate("1h").alias("hour")).agg(
        pl.col("fictitious_plan_per_group").min().alias("plan_min")
    )
    hours = camera_hours(beats).join(plan_low, on=["camera_id", "hour"])
    cameras = {camera.id: camera for camera in config.cameras}
    k = config.privacy.fictitious.min_members
    problems = []
    for camera_id, hour, plan_max, plan_min, fictitious, runs in hours.select(
        "camera_id", "hour", "plan", "plan_min", "fictitious", "runs"
    ).iter_rows():
        if camera_id not in cameras:
            problems.append(f"{camera_id}: not in the site configuration")
            continue
        local_hour = hour.astimezone(config.tz).hour
        policy = plan_per_group(cameras[camera_id].expected_passes(local_hour), k, config.privacy.groups)
        if abs(plan_max - policy) > 1e-6 or abs(plan_min - policy) > 1e-6:
            problems.append(f"{camera_id} {hour:%Y-%m-%d %H}h: plan {plan_max:.4f}/group, policy {policy:.4f}")
            continue
        expected = policy * config.privacy.groups
        below = fictitious < expected - FICTITIOUS_SIGMAS * math.sqrt(expected) - 3
        above = fictitious > runs * expected + FICTITIOUS_SIGMAS * math.sqrt(runs * expected) + 3
        if below or above:
            runs_text = f" ({runs} runs)" if runs > 1 else ""
            problems.append(
                f"{camera_id} {hour:%Y-%m-%d %H}h: {fictitious} fictitious added, plan {expected:.0f}{runs_text}"
            )
    fictitious_total, real_total = int(hours["fictitious"].sum()), int(hours["real"].sum())
    share = fictitious_total / (fictitious_total + real_total) if fictitious_total + real_total else 0.0
    return dg.AssetCheckResult(
        asset_key=HEARTBEATS,
        check_name=FICTITIOUS_CHECK,
        passed=not problems,
        metadata={"fictitious_share": round(share, 4), "problems": "\n".join(problems[:50]) or "none"},
    )


def occurrences_match_heartbeats(
    connection: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime
) -> dg.AssetCheckResult:
    mismatches = connection.execute(
        """WITH announced AS (
               SELECT camera_id, date_trunc('hour', minute_start) AS hour,
                      sum(occurrences_emitted + fictitious_emitted) AS n
               FROM raw.heartbeats WHERE minute_start >= ? AND minute_start < ? GROUP BY ALL),
           landed AS (
               SELECT camera_id, date_trunc('hour', observed_at) AS hour, count(*) AS n
               FROM raw.occurrences WHERE observed_at >= ? AND observed_at < ? GROUP BY ALL)
           SELECT coalesce(a.camera_id, l.camera_id), coalesce(a.hour, l.hour), coalesce(a.n, 0), coalesce(l.n, 0)
           FROM announced a FULL JOIN landed l USING (camera_id, hour)
           WHERE coalesce(a.n, 0) <> coalesce(l.n, 0) ORDER BY 1, 2""",
        [start, end, start, end],
    ).fetchall()
    lines = [f"{camera} {hour:%Y-%m-%d %H}h: heartbeats {a}, rows {b}" for camera, hour, a, b in mismatches]
    return dg.AssetCheckResult(
        asset_key=OCCURRENCES,
        check_name=COMPLETENESS_CHECK,
        passed=not mismatches,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"mismatched_camera_hours": len(mismatches), "examples": "\n".join(lines[:20]) or "none"},
    )
