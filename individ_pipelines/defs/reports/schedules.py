"""Daily and weekly retailer-report schedules: one run per scope (the site and each store).

Runs start after the period has ended plus the landing zone's lateness (the hourly data is final by
then): daily at 04:00 site time for the day before, weekly on Mondays at 05:00 for the last week.
"""

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from individ_pipelines.defs.reports.partitions import PERIOD, SCOPE, ReportPartitions

DAILY_JOB = "daily_reports"
WEEKLY_JOB = "weekly_reports"


def report_run_requests(cadence: str, period_key: str, scopes: tuple[str, ...]) -> list[dg.RunRequest]:
    return [
        dg.RunRequest(
            run_key=f"{cadence}:{period_key}:{scope}",
            partition_key=dg.MultiPartitionKey({PERIOD: period_key, SCOPE: scope}),
            tags={"individ/report_scope": scope},
        )
        for scope in scopes
    ]


def build_report_schedules(
    partitions: ReportPartitions, report_assets: list[dg.AssetsDefinition]
) -> tuple[list[Any], list[dg.ScheduleDefinition]]:
    daily_asset, weekly_asset = report_assets
    daily_job = dg.define_asset_job(DAILY_JOB, selection=[daily_asset])
    weekly_job = dg.define_asset_job(WEEKLY_JOB, selection=[weekly_asset])
    timezone = partitions.timezone

    @dg.schedule(job=daily_job, cron_schedule="0 4 * * *", execution_timezone=timezone, name="daily_reports_schedule")
    def daily_reports_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        """Yesterday's report for the site and every store."""
        local = context.scheduled_execution_time.astimezone(ZoneInfo(timezone))
        day = local.date() - dt.timedelta(days=1)
        return report_run_requests("daily", day.isoformat(), partitions.scopes)

    @dg.schedule(job=weekly_job, cron_schedule="0 5 * * 1", execution_timezone=timezone, name="weekly_reports_schedule")
    def weekly_reports_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        """Last week's (Monday to Sunday) report for the site and every store."""
        local = context.scheduled_execution_time.astimezone(ZoneInfo(timezone))
        monday = local.date() - dt.timedelta(days=local.weekday() + 7)
        return report_run_requests("weekly", monday.isoformat(), partitions.scopes)

    return [daily_job, weekly_job], [daily_reports_schedule, weekly_reports_schedule]
