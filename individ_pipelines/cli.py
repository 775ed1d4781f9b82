"""``individ ui``: the Dagster web UI for this site's pipelines, on 127.0.0.1 only.

The UI runs the daemon too (``dagster dev``-style is not used: the webserver alone launches no
schedules or sensors), so ``individ ui`` starts ``dagster dev`` with the repository's workspace.yaml,
DAGSTER_HOME under the data folder (with its one-run-at-a-time dagster.yaml) and the site/data
settings passed through the environment to the code location.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from individ.site_config import example_site_path

WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("ui", help="start the Dagster UI (and its daemon) on 127.0.0.1")
    parser.add_argument("--data", default="./individ-data", help="data folder (default ./individ-data)")
    parser.add_argument("--config", default=None, help="site YAML (default: INDIVID_SITE_CONFIG or the demo mall)")
    parser.add_argument("--port", type=int, default=3000, help="port on 127.0.0.1 (default 3000)")
    parser.set_defaults(handler=_ui)


def ui_environment(data: Path, config: str | None) -> dict[str, str]:
    """The environment the UI, the daemon and the code location share."""
    from individ_pipelines.instance import prepare_dagster_home

    home = prepare_dagster_home(data.resolve() / "dagster_home")  # first: it may add Dagster's own variables
    env = dict(os.environ)
    env["INDIVID_DATA"] = str(data.resolve())
    env["INDIVID_SITE_CONFIG"] = str(Path(config or env.get("INDIVID_SITE_CONFIG") or example_site_path()).resolve())
    env["DAGSTER_HOME"] = str(home)
    return env


def create_storage(dagster_home: str) -> None:
    """Create the instance's storage now: ``dagster dev`` starts the webserver and the daemon together, and two
    processes creating Dagster's SQLite run storage at once in a fresh folder can fail (two alembic heads)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(dagster_home) as instance:
        instance.get_runs(limit=1)
        instance.all_instigator_state()


def _ui(args: argparse.Namespace) -> int:
    env = ui_environment(Path(args.data), args.config)
    create_storage(env["DAGSTER_HOME"])
    command = [
        sys.executable, "-m", "dagster", "dev",
        "-w", str(WORKSPACE),
        "--host", "127.0.0.1",
        "--port", str(args.port),
    ]  # fmt: skip
    print(f"Dagster UI on http://127.0.0.1:{args.port} (DAGSTER_HOME={env['DAGSTER_HOME']}); Ctrl-C stops it")
    try:
        return subprocess.run(command, env=env, cwd=WORKSPACE.parent, check=False).returncode
    except KeyboardInterrupt:
        return 0
