"""The Dagster code location: every definition of the analytics platform, for one site.

Domains (one package each under ``defs/``): ``landing`` (ingestion, its checks and the landing-zone
sensor), ``analytics`` (the dbt models) and ``reports`` (retailer reports and their schedules).
Settings come from the environment (see ``settings.py``); ``build_definitions`` takes them
explicitly so tests and ``individ demo`` can point the location at their own folders.
"""

from __future__ import annotations

import dagster as dg

from individ_pipelines.defs.analytics.assets import build_dbt_assets
from individ_pipelines.defs.analytics.project import dbt_project
from individ_pipelines.defs.analytics.resources import installed_dbt
from individ_pipelines.defs.landing.assets import build_ingestion_asset, site_metadata
from individ_pipelines.defs.landing.partitions import hour_of_key, hourly_partitions
from individ_pipelines.defs.landing.sensors import build_landing_sensor
from individ_pipelines.defs.reports.assets import build_report_assets
from individ_pipelines.defs.reports.partitions import report_partitions
from individ_pipelines.defs.reports.schedules import build_report_schedules
from individ_pipelines.resources import LandingZoneResource, SiteResource, WarehouseResource
from individ_pipelines.settings import PipelineSettings, settings_from_env

HOURLY_JOB = "hourly_analytics"
SITE_JOB = "site_metadata_job"


def build_definitions(settings: PipelineSettings, *, reparse_dbt: bool = False) -> dg.Definitions:
    config = settings.site_config()
    hourly = hourly_partitions(settings.partitions_start)
    project = dbt_project(settings.warehouse_path, reparse=reparse_dbt)

    ingestion = build_ingestion_asset(hourly)
    models = build_dbt_assets(project, hourly)
    hourly_job = dg.define_asset_job(
        HOURLY_JOB,
        selection=dg.AssetSelection.assets(ingestion, models),
        description="Ingest an hour range from the landing zone and rebuild its dbt models.",
    )
    site_job = dg.define_asset_job(SITE_JOB, selection=dg.AssetSelection.assets(site_metadata))
    reports = report_partitions(settings.partitions_start, config)
    report_assets = build_report_assets(reports, settings.reports_dir)
    report_jobs, report_schedules = build_report_schedules(reports, report_assets)

    return dg.Definitions(
        assets=[site_metadata, ingestion, models, *report_assets],
        jobs=[site_job, hourly_job, *report_jobs],
        sensors=[build_landing_sensor(HOURLY_JOB, hour_of_key(settings.partitions_start))],
        schedules=report_schedules,
        resources={
            "site": SiteResource(config_path=str(settings.site_config_path)),
            "landing_zone": LandingZoneResource(root=settings.landing_root(config)),
            "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
            "dbt": installed_dbt(project),
        },
        # One process per run: DuckDB's single writer and no subprocess start-up per step.
        executor=dg.in_process_executor,
    )


defs = build_definitions(settings_from_env())
