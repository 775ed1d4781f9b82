"""Report schedules: yesterday's / last week's report for the site and every store."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from tests.pipelines.conftest import PipelineEnv


@pytest.fixture
def env(shared_env: PipelineEnv) -> PipelineEnv:
    return shared_env


def _evaluate(env: PipelineEnv, name: str, when: dt.datetime) -> list[dg.RunRequest]:
    schedule = env.defs.resolve_schedule_def(name)
    context = dg.build_schedule_context(
        instance=env.instance, scheduled_execution_time=when, repository_def=env.defs.get_repository_def()
    )
    return list(schedule.evaluate_tick(context).run_requests or [])


def test_daily_schedule_requests_yesterday_per_scope(env: PipelineEnv) -> None:
    when = dt.datetime(2026, 1, 16, 4, 0, tzinfo=ZoneInfo("Europe/Paris"))
    requests = _evaluate(env, "daily_reports_schedule", when)
    keys = [r.partition_key for r in requests]
    assert keys == ["2026-01-15|site", "2026-01-15|shop"]
    assert [r.run_key for r in requests] == ["daily:2026-01-15:site", "daily:2026-01-15:shop"]


def test_weekly_schedule_requests_last_week_per_scope(env: PipelineEnv) -> None:
    when = dt.datetime(2026, 1, 19, 5, 0, tzinfo=ZoneInfo("Europe/Paris"))  # a Monday
    requests = _evaluate(env, "weekly_reports_schedule", when)
    assert [r.partition_key for r in requests] == ["2026-01-12|site", "2026-01-12|shop"]
    weekly = env.defs.resolve_job_def("weekly_reports").partitions_def
    assert weekly is not None and "2026-01-12|shop" in weekly.get_partition_keys()
