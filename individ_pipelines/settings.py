"""Where the code location finds its site, data folder and history start, from the environment.

One code location serves one site. Everything is resolved once at load time from environment
variables with demo defaults, so `dagster`, `individ ui`, `individ demo` and the tests agree:

* ``INDIVID_SITE_CONFIG``: the site YAML (default: the shipped demo mall).
* ``INDIVID_DATA``: the data folder (default ``./individ-data``) holding ``warehouse.duckdb``,
  ``reports/``, ``dagster_home/`` and, unless the site config says otherwise, ``landing/``.
* ``INDIVID_PARTITIONS_START``: first UTC hour of the hourly partitions (default 2024-01-01-00:00,
  early enough for any simulated or recorded day; a later start keeps the partition list short).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from individ.site_config import SiteConfig, example_site_path, load_site_config

DEFAULT_DATA_DIR = "./individ-data"
DEFAULT_PARTITIONS_START = "2024-01-01-00:00"
# The landing zone written in the shipped example configs: it means "the landing folder of the data dir".
_DEFAULT_LANDING = "./individ-data/landing"


@dataclass(frozen=True)
class PipelineSettings:
    site_config_path: Path
    data_dir: Path
    partitions_start: str

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"

    @property
    def dbt_docs_dir(self) -> Path:
        return self.data_dir / "dbt_docs"

    def site_config(self) -> SiteConfig:
        return load_site_config(self.site_config_path)

    def landing_root(self, config: SiteConfig) -> str:
        """The site's landing zone; the example configs' default folder follows the data dir instead."""
        if config.landing_zone.rstrip("/") in (_DEFAULT_LANDING, "individ-data/landing"):
            return str(self.data_dir / "landing")
        return config.landing_zone


def settings_from_env() -> PipelineSettings:
    return PipelineSettings(
        site_config_path=Path(os.environ.get("INDIVID_SITE_CONFIG") or example_site_path()),
        data_dir=Path(os.environ.get("INDIVID_DATA") or DEFAULT_DATA_DIR).resolve(),
        partitions_start=os.environ.get("INDIVID_PARTITIONS_START") or DEFAULT_PARTITIONS_START,
    )
