"""The Dagster instance folder (DAGSTER_HOME) under the data folder, configured for one DuckDB writer.

DuckDB allows one writing process per database file, so the run queue admits one run at a time:
a second sensor- or schedule-triggered run waits in the queue instead of failing on the file lock.
"""

from __future__ import annotations

from pathlib import Path

import yaml

INSTANCE_CONFIG = {
    "concurrency": {"runs": {"max_concurrent_runs": 1}},
    "telemetry": {"enabled": False},
}


def prepare_dagster_home(dagster_home: Path) -> Path:
    """Create DAGSTER_HOME with its dagster.yaml (rewritten each time, so upgrades apply)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(INSTANCE_CONFIG, sort_keys=False), encoding="utf-8")
    return dagster_home
