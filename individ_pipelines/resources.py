"""Dagster resources: the site, the landing zone and the warehouse, configured from the settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import dagster as dg
import duckdb

from individ.contract import LandingZone
from individ.site_config import SiteConfig, load_site_config
from individ_pipelines import warehouse


class SiteResource(dg.ConfigurableResource):
    """The site configuration (cameras, stores, privacy and flow parameters)."""

    config_path: str

    @cached_property
    def config(self) -> SiteConfig:
        return load_site_config(self.config_path)


class LandingZoneResource(dg.ConfigurableResource):
    """Where sensors deliver contract segments (a local folder or an s3:// URL)."""

    root: str

    @cached_property
    def zone(self) -> LandingZone:
        return LandingZone(self.root)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file; ``writer()`` inside runs, ``reader()`` for the published snapshot."""

    path: str

    @property
    def file(self) -> Path:
        return Path(self.path)

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(self.file) as connection:
            yield connection

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Read the main file; only inside a run (the run queue guarantees no concurrent writer)."""
        with warehouse.connect(self.file, read_only=True) as connection:
            yield connection

    def publish_snapshot(self) -> Path:
        return warehouse.publish_snapshot(self.file)
