"""The dbt project (``dbt_project/`` at the repository root) and its manifest.

dagster-dbt builds assets from ``target/manifest.json``. A fresh clone has none, so loading the
code location parses the project when the manifest is missing (``dbt parse``, a few seconds), and
under ``dagster dev`` (``individ ui``) it re-parses on every load, as dagster-dbt's DbtProject.prepare_if_dev
would, to pick up model edits.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from dagster_dbt import DbtProject
from dagster_dbt.dbt_project import using_dagster_dev

from individ_pipelines.defs.analytics.resources import installed_dbt

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# The dbt profile reads the warehouse path from this variable.
WAREHOUSE_ENV = "INDIVID_WAREHOUSE"


def dbt_project(warehouse: Path, *, reparse: bool = False) -> DbtProject:
    """The project with its manifest ready; ``warehouse`` is what dbt will open when parsing and running.

    ``reparse`` forces ``dbt parse`` (tests and ``individ demo`` do, so model edits are never missed).
    """
    os.environ[WAREHOUSE_ENV] = str(warehouse)
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    # dagster-dbt's own preparer would parse with a plain DbtCliResource: `dbt --version` first, and a dbtf on PATH.
    if reparse or using_dagster_dev() or not project.manifest_path.exists():
        installed_dbt(project).cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project


def dbt_var(name: str) -> object:
    """A default var from dbt_project.yml (e.g. the visit lag, which decides how far a late segment reaches)."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    return project["vars"][name]


def longest_lag_minutes(flow_lag_minutes: int) -> int:
    """The longest time between two passes the models pair up: the flow lag or the visit (dwell) lag."""
    return max(flow_lag_minutes, int(str(dbt_var("visit_max_lag_minutes"))))
