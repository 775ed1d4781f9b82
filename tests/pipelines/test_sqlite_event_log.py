"""The pooled SQLite event log writes Dagster's own files: what it stores, Dagster's storage reads back."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.events.log import EventLogEntry

from individ_pipelines import instance as individ_instance
from individ_pipelines.sqlite_event_log import MAX_OPEN_FILES, PooledSqliteEventLogStorage

PARTITIONS = [f"2026-11-02-{hour:02d}:00" for hour in range(24)]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(individ_instance.POSTGRES_URL_ENV, raising=False)
    return individ_instance.prepare_dagster_home(tmp_path / "home")


def _materialize(instance: dg.DagsterInstance, asset: str, partitions: list[str]) -> None:
    for partition in partitions:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, partition=partition))


def _run_job(instance: dg.DagsterInstance, name: str) -> str:
    @dg.op(name=f"{name}_op")
    def say() -> None:
        dg.get_dagster_logger().info(f"hello from {name}")

    @dg.job(name=name)
    def job() -> None:
        say()

    result = job.execute_in_process(instance=instance)
    assert result.success
    return result.run_id


def test_events_written_pooled_read_back_by_dagsters_own_storage(home: Path) -> None:
    with dg.DagsterInstance.from_config(str(home)) as pooled:
        assert isinstance(pooled.event_log_storage, PooledSqliteEventLogStorage)
        _materialize(pooled, "footfall_hourly", PARTITIONS)
        run_id = _run_job(pooled, "greeting")
    plain_home = home.parent / "plain"
    plain_home.mkdir()
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    del config["event_log_storage"]
    (plain_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    for folder in ("history", "schedules", "storage"):
        if (home / folder).exists():
            (plain_home / folder).symlink_to(home / folder)
    with dg.DagsterInstance.from_config(str(plain_home)) as plain:
        assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert plain.get_materialized_partitions(dg.AssetKey("footfall_hourly")) == set(PARTITIONS)
        messages = [entry.user_message for entry in plain.all_logs(run_id)]
        assert any("hello from greeting" in message for message in messages)


def test_writers_sharing_the_files_lose_no_event(home: Path) -> None:
    # Two storages (as the daemon and a run worker would have) keep their connections open between writes.
    with dg.DagsterInstance.from_config(str(home)) as first, dg.DagsterInstance.from_config(str(home)) as second:
        for partition in PARTITIONS:
            _materialize(first, "flows", [partition])
            _materialize(second, "dwell", [partition])
        for instance in (first, second):
            assert instance.get_materialized_partitions(dg.AssetKey("flows")) == set(PARTITIONS)
            assert instance.get_materialized_partitions(dg.AssetKey("dwell")) == set(PARTITIONS)


def test_open_files_stay_bounded_and_wipe_closes_them(home: Path) -> None:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        run_ids = [_run_job(instance, f"job_{i}") for i in range(MAX_OPEN_FILES + 2)]
        assert len(storage._engines) <= MAX_OPEN_FILES
        assert all(instance.all_logs(run_id) for run_id in run_ids)  # evicted files reopen
        storage.wipe()
        assert list(storage._engines) == ["index"]  # the run files are closed (and gone); the index reopened
        assert not any(instance.all_logs(run_id) for run_id in run_ids)
        _materialize(instance, "footfall_hourly", PARTITIONS[:1])  # usable after a wipe
        assert instance.get_materialized_partitions(dg.AssetKey("footfall_hourly")) == set(PARTITIONS[:1])


def _log_entry(run_id: str, message: str) -> EventLogEntry:
    return EventLogEntry(error_info=None, level="INFO", user_message=message, run_id=run_id, timestamp=time.time())


def test_a_watched_run_sees_events_another_process_writes(home: Path) -> None:
    # The UI follows a running run this way; Dagster's file watcher saw nothing once connections stayed open.
    received: list[str] = []
    with dg.DagsterInstance.from_config(str(home)) as ui, dg.DagsterInstance.from_config(str(home)) as worker:
        worker.event_log_storage.store_event(_log_entry("run-1", "first"))
        ui.event_log_storage.watch("run-1", None, lambda entry, cursor: received.append(entry.user_message))
        for i in range(5):
            worker.event_log_storage.store_event(_log_entry("run-1", f"event {i}"))
        deadline = time.monotonic() + 20
        while len(received) < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert received == ["first", *(f"event {i}" for i in range(5))]


def test_a_run_file_deleted_by_another_process_is_reopened(home: Path) -> None:
    with dg.DagsterInstance.from_config(str(home)) as worker, dg.DagsterInstance.from_config(str(home)) as admin:
        worker.event_log_storage.store_event(_log_entry("run-1", "before"))
        admin.event_log_storage.wipe()  # deletes run-1.db under the worker's open connection
        worker.event_log_storage.store_event(_log_entry("run-1", "after"))
    with dg.DagsterInstance.from_config(str(home)) as reader:
        assert [entry.user_message for entry in reader.all_logs("run-1")] == ["after"]
