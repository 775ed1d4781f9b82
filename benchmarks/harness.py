"""Shared steps of the benchmarks: simulate a day, run the REAL pipeline on it, read its warehouse.

The pipeline is reached only through its public entry point ``individ_pipelines.chain.run_day``
(the site-metadata job, then one partition-range run of the hourly job: ingestion assets + the dbt
models as ``@dbt_assets``), in-process against a real Dagster instance under the data folder.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from individ.output import output_to
from individ.simulator import SimulationParameters, SimulationResult, simulate
from individ.simulator.calibration import calibrated_site, write_site_config
from individ.site_config import SiteConfig, example_site_path, load_site_config

BENCHMARK_DAY = dt.date(2026, 11, 2)  # a Monday in winter time (Europe/Paris = UTC+1)
SITE_FILE = "site.yaml"


def demo_site() -> tuple[Path, SiteConfig]:
    path = example_site_path()
    return path, load_site_config(path)


def simulate_day(
    data: Path,
    visitors_per_hour: float,
    p: float,
    seed: int,
    day: dt.date = BENCHMARK_DAY,
    min_members: float | None = None,
    site_path: Path | None = None,
    base: SimulationParameters | None = None,
) -> SimulationResult:
    """One simulated day with the default (realistic, imperfect) sensor model.

    The site (default: the demo mall) has its expected traffic first calibrated to this traffic level
    (as an operator would set it) and saved as ``<data>/site.yaml``, which the pipeline then reads
    too. ``min_members`` overrides the fictitious plan's privacy floor k (to measure its cost in
    accuracy). ``base`` holds the other simulator parameters (default: the simulator's defaults);
    ``visitors_per_hour`` and ``p`` override it.
    """
    site = load_site_config(site_path) if site_path is not None else demo_site()[1]
    if min_members is not None:
        fictitious = site.privacy.fictitious.model_copy(update={"min_members": min_members})
        site = site.model_copy(update={"privacy": site.privacy.model_copy(update={"fictitious": fictitious})})
    params = SimulationParameters.model_validate(
        {**(base or SimulationParameters()).model_dump(), "visitors_per_hour": visitors_per_hour, "p": p}
    )
    site = calibrated_site(site, params, day, seed)
    write_site_config(site, data / SITE_FILE)
    return simulate(site, params, data, day, days=1, seed=seed, progress=False)


@dataclass(frozen=True)
class PipelineRun:
    seconds: dict[str, float]  # per step of run_day
    hourly_run_id: str  # the Dagster run of ingestion + dbt (its dbt target folder name carries its first 7 characters)
    hourly_run_seconds: float  # that run's own duration: ingestion and dbt assets, without loading definitions
    step_seconds: dict[str, float]  # that run's steps (the ingestion asset, the dbt assets) by step key


def run_pipeline(data: Path, day: dt.date = BENCHMARK_DAY, log: Path | None = None) -> PipelineRun:
    """Ingest and model one site-local day with the real Dagster assets and dbt models.

    This is the only place the benchmarks touch the pipeline.
    """
    import dagster as dg

    from individ_pipelines.chain import run_day
    from individ_pipelines.definitions import HOURLY_JOB
    from individ_pipelines.instance import prepare_dagster_home
    from individ_pipelines.settings import PipelineSettings

    settings = PipelineSettings(
        site_config_path=data.resolve() / SITE_FILE,
        data_dir=data.resolve(),
        partitions_start=f"{day - dt.timedelta(days=1):%Y-%m-%d}-00:00",
    )
    home = prepare_dagster_home(settings.dagster_home)
    with output_to(log or data / "pipeline.log"):
        _parse_dbt_project(settings.warehouse_path)
    with output_to(log or data / "pipeline.log"), dg.DagsterInstance.from_config(str(home)) as instance:
        result = run_day(settings, day, instance, reports=False, docs=False, reparse_dbt=False)
        (record,) = instance.get_run_records(dg.RunsFilter(job_name=HOURLY_JOB), limit=1)
        run_id = record.dagster_run.run_id
        stats = instance.get_run_stats(run_id)
        steps = {
            step.step_key: (step.end_time or 0.0) - (step.start_time or 0.0)
            for step in instance.get_run_step_stats(run_id)
        }
    run_seconds = (stats.end_time or 0.0) - (stats.start_time or 0.0)
    return PipelineRun(result.seconds, run_id, run_seconds, steps)


def _parse_dbt_project(warehouse: Path, attempts: int = 5) -> None:
    """``dbt parse`` now, so the manifest matches the models as they are (another dbt may hold the lock: retry)."""
    from individ_pipelines.defs.analytics.project import dbt_project

    for attempt in range(attempts):
        try:
            dbt_project(warehouse, reparse=True)
            return
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(10)


def warehouse_query(data: Path, sql: str) -> pl.DataFrame:
    """Read the pipeline's warehouse (read-only) into polars."""
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as connection:
        table = connection.sql(sql).to_arrow_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))
