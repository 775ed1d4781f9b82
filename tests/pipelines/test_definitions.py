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
