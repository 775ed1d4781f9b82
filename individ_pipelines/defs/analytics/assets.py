"""The dbt models as hourly partitioned Dagster assets, fed the partition window as dbt vars.

Every dbt model reads ``var('window_start')``/``var('window_end')`` and rebuilds the hours of that
window (with the lookback/lookahead margins the flow lag needs, handled inside the models), so an
hour's result is the same whether its run covered one hour or a month. A multi-hour backfill is a
single run and a single ``dbt build`` (BackfillPolicy.single_run). dbt tests become asset checks.
"""

import json
import os
from collections.abc import Iterator, Mapping
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


def window_vars(start: Any, end: Any) -> dict[str, str]:
    """The dbt vars for a partition window, ISO-8601 UTC."""
    return {"window_start": start.isoformat(), "window_end": end.isoformat()}


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
        dbt_vars = window_vars(window.start, window.end)
        context.log.info(f"dbt build for window {dbt_vars['window_start']} .. {dbt_vars['window_end']}")
        os.environ[WAREHOUSE_ENV] = warehouse.path  # the profile's DuckDB path; runs are serialized
        yield from dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context).stream()
        warehouse.publish_snapshot()

    return analytics_models
