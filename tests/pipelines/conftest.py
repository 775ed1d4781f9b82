"""A real pipeline environment per test module: temp data folder, small site, real Dagster instance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from individ.contract import LandingZone, Segment
from individ.site_config import SiteConfig
from individ_pipelines.definitions import SITE_JOB, build_definitions
from individ_pipelines.defs.landing.partitions import HOUR
from individ_pipelines.settings import PipelineSettings
from tests.pipelines import contract_data


@dataclass
class PipelineEnv:
    settings: PipelineSettings
    config: SiteConfig
    zone: LandingZone
    defs: dg.Definitions
    instance: dg.DagsterInstance

    def sensor_tick(self, cursor: str | None) -> dg.SensorResult:
        """One evaluation of the landing-zone sensor with this cursor."""
        sensor = self.defs.resolve_sensor_def("landing_zone_sensor")
        context = dg.build_sensor_context(instance=self.instance, cursor=cursor, resources=self.defs.resources)
        result = sensor(context)
        assert isinstance(result, dg.SensorResult)
        return result

    def run_hours(
        self,
        first: dt.datetime,
        last: dt.datetime,
        *,
        ingestion_only: bool = False,
        models: tuple[str, ...] | None = None,
    ) -> dg.ExecuteInProcessResult:
        """Materialize the hours [first, last]: everything, the ingestion only, or the ingestion and these dbt
        models (which must include what they read)."""
        from individ_pipelines.definitions import HOURLY_JOB
        from individ_pipelines.defs.landing.checks import STREAM_ASSETS
        from individ_pipelines.defs.landing.partitions import partition_key

        selection: list[dg.AssetKey] | None = None
        if ingestion_only or models is not None:
            selection = list(STREAM_ASSETS.values())
            graph = self.defs.resolve_asset_graph()
            selection += [key for key in graph.get_all_asset_keys() if key.path[-1] in (models or ())]
        return self.defs.resolve_job_def(HOURLY_JOB).execute_in_process(
            instance=self.instance,
            asset_selection=selection,
            tags={
                "dagster/asset_partition_range_start": partition_key(first),
                "dagster/asset_partition_range_end": partition_key(last),
            },
            raise_on_error=False,
        )


def make_env(root: Path, *, small_cells: str = "merge_unknown") -> Iterator[PipelineEnv]:
    landing = root / "data" / "landing"
    config_path = contract_data.write_site_config(root, landing, small_cells=small_cells)
    settings = PipelineSettings(config_path, root / "data", "2026-01-01-00:00")
    config = settings.site_config()
    with dg.DagsterInstance.ephemeral() as instance:
        yield PipelineEnv(settings, config, LandingZone(landing), build_definitions(settings), instance)


@pytest.fixture(scope="session", autouse=True)
def fresh_dbt_manifest(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Parse the dbt project once per session, so the tests never run a stale manifest."""
    from individ_pipelines.defs.analytics.project import dbt_project

    dbt_project(tmp_path_factory.mktemp("parse") / "warehouse.duckdb", reparse=True)


@pytest.fixture(scope="session")
def shared_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineEnv]:
    """One environment for the modules that share the costly materialization (dbt is slow to start)."""
    yield from make_env(tmp_path_factory.mktemp("pipeline"))


FIRST = contract_data.DAY.replace(hour=10)
LAST = FIRST + HOUR


@dataclass
class Materialized:
    env: PipelineEnv
    data: contract_data.HourData
    segments: list[Segment]
    malformed: str
    result: dg.ExecuteInProcessResult


def _write_malformed(env: PipelineEnv) -> str:
    """A truncated Parquet file in hour 10's occurrences folder, named like a segment."""
    folder = env.zone.root + f"/occurrences/date={FIRST:%Y-%m-%d}/hour={FIRST:%H}"
    name = f"occ-broken-{FIRST:%Y%m%dT%H}-0000000000000000dead"
    with open(f"{folder}/{name}.parquet", "wb") as handle:
        handle.write(b"PAR1 this is not a parquet file")
    return name


@pytest.fixture(scope="session")
def materialized(shared_env: PipelineEnv) -> Iterator[Materialized]:
    env = shared_env
    data = contract_data.simulate(env.config, FIRST, hours=2)
    segments = contract_data.deliver(env.zone, data)
    malformed = _write_malformed(env)
    assert env.defs.resolve_job_def(SITE_JOB).execute_in_process(instance=env.instance).success
    result = env.run_hours(FIRST, LAST)
    yield Materialized(env, data, segments, malformed, result)
