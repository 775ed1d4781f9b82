"""The code location loads the way `dagster` and `individ ui` load it: through workspace.yaml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from individ_pipelines.instance import prepare_dagster_home

REPO = Path(__file__).resolve().parents[2]


def test_workspace_validates(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "INDIVID_DATA": str(tmp_path / "data"),
        "DAGSTER_HOME": str(prepare_dagster_home(tmp_path / "home")),
    }
    command = [sys.executable, "-m", "dagster", "definitions", "validate", "-w", str(REPO / "workspace.yaml")]
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]


def test_instance_runs_one_run_at_a_time(tmp_path: Path) -> None:
    import dagster as dg

    home = prepare_dagster_home(tmp_path / "home")
    assert yaml.safe_load((home / "dagster.yaml").read_text())["concurrency"]["runs"]["max_concurrent_runs"] == 1
    with dg.DagsterInstance.from_config(str(home)) as instance:
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None and queue.max_concurrent_runs == 1


def test_assets_built_after_a_reparse_follow_the_new_manifest(tmp_path: Path) -> None:
    # dagster-dbt caches a manifest file's content per process: definitions built after `dbt parse` rewrote it
    # (an upgrade, then `individ demo`) must still see the new nodes, else dbt runs nodes Dagster does not know.
    import json

    import dagster as dg
    from dagster_dbt import DbtProject

    from individ_pipelines.defs.analytics.assets import build_dbt_assets
    from individ_pipelines.defs.analytics.project import DBT_PROJECT_DIR, dbt_project

    parsed = dbt_project(tmp_path / "warehouse.duckdb").manifest_path
    project = DbtProject(project_dir=DBT_PROJECT_DIR, target_path=tmp_path / "target")
    project.manifest_path.parent.mkdir()
    manifest = json.loads(parsed.read_bytes())
    project.manifest_path.write_text(json.dumps(manifest))
    hourly = dg.HourlyPartitionsDefinition(start_date="2026-11-01-00:00")
    before = build_dbt_assets(project, hourly).keys
    model = next(key for key, node in manifest["nodes"].items() if node["name"] == "footfall_hourly")
    dropped = {model, *manifest["child_map"][model]}  # the model and its tests, as if it had been removed
    manifest["nodes"] = {key: node for key, node in manifest["nodes"].items() if key not in dropped}
    for graph in ("parent_map", "child_map"):
        manifest[graph] = {
            key: [other for other in others if other not in dropped]
            for key, others in manifest[graph].items()
            if key not in dropped
        }
    project.manifest_path.write_text(json.dumps(manifest))
    after = build_dbt_assets(project, hourly).keys
    assert {key.path[-1] for key in before - after} == {"footfall_hourly"}
    assert after < before


def test_instance_purges_old_sensor_and_schedule_ticks(tmp_path: Path) -> None:
    import dagster as dg
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import TickStatus

    expected = {TickStatus.SKIPPED: 7, TickStatus.FAILURE: 30, TickStatus.SUCCESS: 30, TickStatus.STARTED: 30}
    with dg.DagsterInstance.from_config(str(prepare_dagster_home(tmp_path / "home"))) as instance:
        for instigator in (InstigatorType.SENSOR, InstigatorType.SCHEDULE):
            assert dict(instance.get_tick_retention_settings(instigator)) == expected


def test_dbt_resource_runs_this_environments_dbt_without_starting_it_for_its_version(
    tmp_path: Path, monkeypatch
) -> None:
    # dagster-dbt would run `dbt --version` on every run: a second dbt start and a request to pypi.org.
    from importlib.metadata import version

    import dagster_dbt.core.resource

    from individ_pipelines.defs.analytics.project import dbt_project
    from individ_pipelines.defs.analytics.resources import installed_dbt

    def no_subprocess(*args: object, **kwargs: object) -> bytes:
        raise AssertionError(f"unexpected subprocess {args}")

    monkeypatch.setattr(dagster_dbt.core.resource, "check_output", no_subprocess)
    resource = installed_dbt(dbt_project(tmp_path / "warehouse.duckdb"))
    assert Path(resource.dbt_executable) == Path(sys.executable).with_name("dbt")
    assert Path(resource.dbt_executable).is_file()
    assert str(resource._cli_version) == version("dbt-core")
