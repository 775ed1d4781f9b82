"""The whole analytics chain for one site-local day, in-process against a real Dagster instance.

Used by ``individ demo`` (and available to a lead-side command): site metadata -> the day's hourly
partitions as one partition-range run (ingestion + one dbt build) -> the daily retailer reports
for the site and every store -> ``dbt docs generate`` on the published warehouse snapshot. Extra
landing-zone sources (e.g. the sensor on the demo clip) write their segments before ingestion.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from individ.contract import LandingZone
from individ_pipelines import warehouse
from individ_pipelines.definitions import HOURLY_JOB, SITE_JOB, build_definitions
from individ_pipelines.defs.analytics.project import DBT_PROJECT_DIR, WAREHOUSE_ENV
from individ_pipelines.defs.landing.partitions import HOUR, partition_key
from individ_pipelines.defs.reports.partitions import PERIOD, SCOPE
from individ_pipelines.defs.reports.schedules import DAILY_JOB
from individ_pipelines.settings import PipelineSettings

# Something that delivers contract segments into the landing zone before ingestion.
LandingSource = Callable[[LandingZone], object]


class ChainError(RuntimeError):
    """A step of the chain failed; the message names the step and where its logs are."""


@dataclass
class ChainResult:
    hours: tuple[str, str]
    reports: list[Path] = field(default_factory=list)
    dbt_docs: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def local_day_hours(day: dt.date, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The first and last UTC hour partitions of a site-local day."""
    start = dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)
    return start, end - HOUR


def run_day(
    settings: PipelineSettings,
    day: dt.date,
    instance: dg.DagsterInstance,
    *,
    extra_sources: Sequence[LandingSource] = (),
    reports: bool = True,
    docs: bool = True,
    reparse_dbt: bool = True,
) -> ChainResult:
    """Run the chain for ``day``; ``reparse_dbt=False`` trusts a manifest the caller has just parsed."""
    defs = build_definitions(settings, reparse_dbt=reparse_dbt)
    config = settings.site_config()
    zone = LandingZone(settings.landing_root(config))
    for source in extra_sources:
        source(zone)
    first, last = local_day_hours(day, config.tz)
    result = ChainResult(hours=(partition_key(first), partition_key(last)))

    clock = time.perf_counter()
    _check(defs.resolve_job_def(SITE_JOB).execute_in_process(instance=instance), "site metadata")
    _check(
        defs.resolve_job_def(HOURLY_JOB).execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": result.hours[0],
                "dagster/asset_partition_range_end": result.hours[1],
            },
        ),
        f"ingestion + dbt for {result.hours[0]} .. {result.hours[1]}",
    )
    result.seconds["ingestion_and_dbt"] = time.perf_counter() - clock

    if reports:
        clock = time.perf_counter()
        report_job = defs.resolve_job_def(DAILY_JOB)
        scopes = ["site", *(store.id for store in config.stores)]
        for scope in scopes:
            key = dg.MultiPartitionKey({PERIOD: day.isoformat(), SCOPE: scope})
            run = report_job.execute_in_process(instance=instance, partition_key=key)
            _check(run, f"daily report {scope}")
        result.reports = sorted((settings.reports_dir / f"daily-{day.isoformat()}").glob("*/report.html"))
        result.seconds["reports"] = time.perf_counter() - clock
    if docs:
        clock = time.perf_counter()
        result.dbt_docs = generate_dbt_docs(settings)
        result.seconds["dbt_docs"] = time.perf_counter() - clock
    return result


def generate_dbt_docs(settings: PipelineSettings) -> Path:
    """``dbt docs generate --static`` into ``<data>/dbt_docs`` reading the warehouse snapshot (never the live file)."""
    target = settings.dbt_docs_dir
    snapshot = warehouse.snapshot_path(settings.warehouse_path)
    if not snapshot.exists():
        warehouse.publish_snapshot(settings.warehouse_path)
    env = {**os.environ, WAREHOUSE_ENV: str(snapshot), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = [
        str(Path(sys.executable).with_name("dbt")), "docs", "generate", "--static",
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target),
    ]  # fmt: skip
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if completed.returncode:
        raise ChainError(f"dbt docs generate failed:\n{completed.stdout[-3000:]}{completed.stderr[-2000:]}")
    return target


def _check(run: dg.ExecuteInProcessResult, step: str) -> None:
    if not run.success:
        raise ChainError(f"{step} failed (run {run.run_id}); see the run's logs in the Dagster UI")
