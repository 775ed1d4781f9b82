"""The Dagster instance folder (DAGSTER_HOME) under the data folder, configured for one DuckDB writer.

DuckDB allows one writing process per database file, so the run queue admits one run at a time:
a second sensor- or schedule-triggered run waits in the queue instead of failing on the file lock.

Every sensor and schedule tick is stored (the landing sensor's with its cursor), one a minute for the
sensor: the daemon purges them after the days below, instead of Dagster's default of keeping all but
skipped sensor ticks forever.

Storage is SQLite under DAGSTER_HOME, unless ``INDIVID_DAGSTER_POSTGRES_URL`` names a Postgres
database (``postgresql+psycopg2://user:password@host:port/db``: SQLAlchemy 2.1 would pick another
driver for a bare ``postgresql://``). A run of a day records about 1,800 events (a materialization
per model and hour, check results, dbt test observations), each committed on its own: Dagster's SQLite
event log creates a new database engine for every one of them, so its event log here is
``PooledSqliteEventLogStorage``, the same files with an engine kept per file (21 -> 5-10 ms an event).
Postgres, Dagster's production storage, takes the same events in batches: the dagster.yaml names only
the variable, so the password never lands on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

TICK_RETENTION_DAYS = {"skipped": 7, "failure": 30, "success": 30, "started": 30}
POSTGRES_URL_ENV = "INDIVID_DAGSTER_POSTGRES_URL"
# Dagster writes the per-hour materializations of one step output as one batch when this is set in the
# environment of the process that runs the steps (the default, 0, writes them one by one).
EVENT_BATCH_SIZE_ENV, EVENT_BATCH_SIZE = "DAGSTER_EVENT_BATCH_SIZE", "100"

INSTANCE_CONFIG = {
    "concurrency": {"runs": {"max_concurrent_runs": 1}},
    "retention": {
        "schedule": {"purge_after_days": TICK_RETENTION_DAYS},
        "sensor": {"purge_after_days": TICK_RETENTION_DAYS},
    },
    "telemetry": {"enabled": False},
}


def uses_postgres() -> bool:
    return bool(os.environ.get(POSTGRES_URL_ENV))


def prepare_dagster_home(dagster_home: Path) -> Path:
    """Create DAGSTER_HOME with its dagster.yaml (rewritten each time, so upgrades apply).

    With Postgres storage this process's environment also gets the event batch size, so runs executed
    in it (``individ demo``, the benchmarks) and the processes it starts (``individ ui``) batch their writes.
    """
    dagster_home.mkdir(parents=True, exist_ok=True)
    config: dict[str, object] = dict(INSTANCE_CONFIG)
    if uses_postgres():
        config["storage"] = {"postgres": {"postgres_url": {"env": POSTGRES_URL_ENV}}}
        os.environ.setdefault(EVENT_BATCH_SIZE_ENV, EVENT_BATCH_SIZE)
    else:  # Dagster's default files for runs and schedules; its event log files, opened more cheaply
        config["event_log_storage"] = {
            "module": "individ_pipelines.sqlite_event_log",
            "class": "PooledSqliteEventLogStorage",
            "config": {"base_dir": str((dagster_home / "history" / "runs").resolve())},
        }
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return dagster_home
