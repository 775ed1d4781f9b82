"""The Dagster instance folder (DAGSTER_HOME) under the data folder, configured for one DuckDB writer.

DuckDB allows one writing process per database file, so the run queue admits one run at a time:
a second sensor- or schedule-triggered run waits in the queue instead of failing on the file lock.

Every sensor and schedule tick is stored (the landing sensor's with its cursor), one a minute for the
sensor: the daemon purges them after the days below, instead of Dagster's default of keeping all but
skipped sensor ticks forever.
"""

from __future__ import annotations

from pathlib import Path

import yaml

TICK_RETENTION_DAYS = {"skipped": 7, "failure": 30, "success": 30, "started": 30}

INSTANCE_CONFIG = {
    "concurrency": {"runs": {"max_concurrent_runs": 1}},
    "retention": {
        "schedule": {"purge_after_days": TICK_RETENTION_DAYS},
        "sensor": {"purge_after_days": TICK_RETENTION_DAYS},
    },
    "telemetry": {"enabled": False},
}


def prepare_dagster_home(dagster_home: Path) -> Path:
    """Create DAGSTER_HOME with its dagster.yaml (rewritten each time, so upgrades apply)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(INSTANCE_CONFIG, sort_keys=False), encoding="utf-8")
    return dagster_home
