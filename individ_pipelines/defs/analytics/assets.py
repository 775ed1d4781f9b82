"""The dbt models as hourly partitioned Dagster assets, fed the partition window as dbt vars.

Every dbt model reads the window through the vars ``window_start``/``window_end`` and rebuilds the hours of
that window (with the lookback/lookahead margins the flow lag needs, handled inside the models), so an
hour's result is the same whether its run covered one hour or a month. A multi-hour backfill is a
single run and a single ``dbt build`` (BackfillPolicy.single_run). dbt tests become asset checks.

The window reaches dbt as the vars' defaults, from environment variables (``macros/run_window.sql``),
not as ``--vars``: dbt re-parses the whole project whenever ``--vars`` change, i.e. on every run.
"""

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from individ_pipelines.defs.analytics.project import WAREHOUSE_ENV
from individ_pipelines.resources import WarehouseResource

GROUP = "analytics"


class IndividTranslator(DagsterDbtTranslator):
    """dbt sources map onto the ingestion assets (``raw/<table>``); models sit in the analytics group."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(["raw", dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP


# Read by macros/run_window.sql when the vars window_start / window_end are not given.
WINDOW_START_ENV = "INDIVID_WINDOW_START"
WINDOW_END_ENV = "INDIVID_WINDOW_END"


def window_environment(start: Any, end: Any) -> dict[str, str]:
    """The environment variables that hand dbt a partition window, ISO-8601 UTC."""
    return {WINDOW_START_ENV: start.isoformat(), WINDOW_END_ENV: end.isoformat()}


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for a dbt subprocess started inside, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def build_dbt_assets(project: DbtProject, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The assets of the manifest as it is on disk now.

    The manifest is read here rather than passed as a path: dagster-dbt caches a manifest path's content
    for the life of the process, so definitions built after a re-parse (``individ demo`` after an upgrade,
    a benchmark after a model change) would otherwise get the stale manifest and fail on the new nodes.
    """

    @dbt_assets(
        manifest=json.loads(project.manifest_path.read_bytes()),
        project=project,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        dagster_dbt_translator=IndividTranslator(),
        name="analytics_models",
    )
    def analytics_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ) -> Iterator[Any]:
        window = context.partition_time_window
        environment = {WAREHOUSE_ENV: warehouse.path, **window_environment(window.start, window.end)}
        context.log.info(f"dbt build for window {environment[WINDOW_START_ENV]} .. {environment[WINDOW_END_ENV]}")
        with _environment(environment):  # read when dbt starts; runs are serialized
            invocation = dbt.cli(["build"], context=context)
        yield from invocation.stream()
        warehouse.publish_snapshot()

    return analytics_models
