"""`individ ui` and `individ demo` register their sub-commands; `ui` prepares DAGSTER_HOME under the data folder."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from individ import demo
from individ_pipelines import cli


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="individ")
    commands = parser.add_subparsers(dest="command", required=True)
    cli.register(commands)
    demo.register(commands)
    return parser


def test_subcommands_parse() -> None:
    ui = _parser().parse_args(["ui", "--data", "d", "--port", "3111"])
    assert ui.port == 3111 and ui.handler is not None
    run = _parser().parse_args(["demo", "--data", "d", "--date", "2026-03-14", "--visitors-per-hour", "500"])
    assert run.date.isoformat() == "2026-03-14" and run.visitors_per_hour == 500


def test_ui_environment_points_dagster_at_the_data_folder(tmp_path: Path) -> None:
    env = cli.ui_environment(tmp_path / "data", None)
    home = Path(env["DAGSTER_HOME"])
    assert home == (tmp_path / "data" / "dagster_home").resolve()
    assert yaml.safe_load((home / "dagster.yaml").read_text())["concurrency"]["runs"]["max_concurrent_runs"] == 1
    assert env["INDIVID_DATA"] == str((tmp_path / "data").resolve())
    assert Path(env["INDIVID_SITE_CONFIG"]).name == "demo_mall.yaml"


def test_ui_creates_the_storage_before_dagster_dev_starts_two_processes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("INDIVID_DAGSTER_POSTGRES_URL", raising=False)
    home = Path(cli.ui_environment(tmp_path / "data", None)["DAGSTER_HOME"])
    cli.create_storage(str(home))
    assert (home / "history" / "runs.db").is_file()
    assert (home / "history" / "runs" / "index.db").is_file()
    assert (home / "schedules" / "schedules.db").is_file()
