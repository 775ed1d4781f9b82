"""The instance keeps Dagster's SQLite storage unless a Postgres URL is given, and never writes that URL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from individ_pipelines import instance
from individ_pipelines.cli import ui_environment

SECRET_URL = "postgresql+psycopg2://dagster:s3cret@db.internal:5432/dagster"


def _config(home: Path) -> dict[str, object]:
    return dict(yaml.safe_load((home / "dagster.yaml").read_text()))


def test_sqlite_by_default_without_event_batching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(instance.POSTGRES_URL_ENV, raising=False)
    monkeypatch.delenv(instance.EVENT_BATCH_SIZE_ENV, raising=False)
    config = _config(instance.prepare_dagster_home(tmp_path / "home"))
    assert "storage" not in config
    assert config["event_log_storage"] == {
        "module": "individ_pipelines.sqlite_event_log",
        "class": "PooledSqliteEventLogStorage",
        "config": {"base_dir": str((tmp_path / "home" / "history" / "runs").resolve())},
    }
    assert instance.EVENT_BATCH_SIZE_ENV not in os.environ


def test_postgres_storage_names_the_variable_and_batches_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(instance.POSTGRES_URL_ENV, SECRET_URL)
    monkeypatch.delenv(instance.EVENT_BATCH_SIZE_ENV, raising=False)
    env = ui_environment(tmp_path / "data", None)
    text = (Path(env["DAGSTER_HOME"]) / "dagster.yaml").read_text()
    assert "s3cret" not in text
    assert yaml.safe_load(text)["storage"] == {"postgres": {"postgres_url": {"env": instance.POSTGRES_URL_ENV}}}
    assert yaml.safe_load(text)["concurrency"]["runs"]["max_concurrent_runs"] == 1  # the rest is unchanged
    # The UI, its daemon and the runs they start (the environment passed on) batch their event writes.
    assert env[instance.EVENT_BATCH_SIZE_ENV] == instance.EVENT_BATCH_SIZE
    assert env[instance.POSTGRES_URL_ENV] == SECRET_URL
