"""The dbt CLI resource: this environment's own dbt-core, asked for its version without starting it.

dagster-dbt learns the dbt version by running ``dbt --version`` once per resource instance, which is
once per Dagster run: a second start of dbt (about 7 s of imports on the 2-core target) and, inside
``dbt --version``, a request to pypi.org for the latest release, which an offline edge box waits out on
every run. The executable here is the ``dbt`` installed beside this Python, so its version is the
dbt-core package this Python imports; pinning it also keeps dagster-dbt from picking a ``dbtf`` (dbt
Fusion) that happens to be on PATH.
"""

from __future__ import annotations

import sys
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from dagster_dbt import DbtCliResource, DbtProject
from dagster_dbt.compat import DBT_PYTHON_VERSION

if TYPE_CHECKING:
    from packaging.version import Version

INSTALLED_DBT = Path(sys.executable).with_name("dbt")


class InstalledDbtCliResource(DbtCliResource):
    """``DbtCliResource`` running ``INSTALLED_DBT``, whose version is known without a subprocess."""

    @cached_property
    def _cli_version(self) -> Version:
        if DBT_PYTHON_VERSION is None:
            raise RuntimeError("dbt-core is not importable in this environment: install the project with `uv sync`")
        return DBT_PYTHON_VERSION


def installed_dbt(project: DbtProject) -> InstalledDbtCliResource:
    """The resource for the project, checking that this environment has its dbt executable."""
    if not INSTALLED_DBT.exists():
        raise FileNotFoundError(
            f"no dbt executable beside this Python ({INSTALLED_DBT}): install the project with `uv sync`"
        )
    return InstalledDbtCliResource(
        project_dir=str(project.project_dir), profiles_dir=str(project.profiles_dir), dbt_executable=str(INSTALLED_DBT)
    )
