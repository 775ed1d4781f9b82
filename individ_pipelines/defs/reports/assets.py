"""Retailer reports as assets: per period (site-local day or week) and scope (the site or one store).

Each materialization reads the dbt marts for its period and writes
``<data>/reports/<daily|weekly>-<first day>/<scope>/`` (report.html + CSV extracts). Reports run
inside Dagster runs, which the instance serializes, so they read the live warehouse read-only.
"""

import datetime as dt
from pathlib import Path

import dagster as dg

from individ_pipelines.defs.reports.partitions import PERIOD, SCOPE, ReportPartitions
from individ_pipelines.reports.data import load_report_data
from individ_pipelines.reports.render import write_report
from individ_pipelines.resources import SiteResource, WarehouseResource

GROUP = "reports"
MARTS = (
    "footfall_hourly",
    "flow_matrix_daily",
    "dwell_estimates",
    "dwell_lag_histogram",
    "store_demographics",
    "reidentification_calibration",
)


def report_folder(reports_dir: Path, cadence: str, first_day: dt.date, scope: str) -> Path:
    return reports_dir / f"{cadence}-{first_day.isoformat()}" / scope


def _build(cadence: str, partitions_def: dg.MultiPartitionsDefinition, reports_dir: Path) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{cadence}_report",
        group_name=GROUP,
        partitions_def=partitions_def,
        deps=[
            dg.AssetDep(
                ["marts", mart],
                partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name=PERIOD),
            )
            for mart in MARTS
        ],
        description=f"The {cadence} retailer report (HTML with inline SVG charts + CSV extracts) per scope.",
        compute_kind="html",
    )
    def report(
        context: dg.AssetExecutionContext, site: SiteResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        key = context.partition_key
        assert isinstance(key, dg.MultiPartitionKey)
        scope = key.keys_by_dimension[SCOPE]
        period = partitions_def.get_partitions_def_for_dimension(PERIOD)
        assert isinstance(period, dg.TimeWindowPartitionsDefinition)
        window = period.time_window_for_partition_key(key.keys_by_dimension[PERIOD])
        config = site.config
        first_day = window.start.date()  # the key's calendar day(s), read as site-local days
        last_day = (window.end - dt.timedelta(microseconds=1)).date()
        with warehouse.reader() as connection:
            data = load_report_data(connection, config, scope, cadence, first_day, last_day)
        html = write_report(data, report_folder(reports_dir, cadence, first_day, scope))
        context.log.info(f"wrote {html}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(html)),
                "entries_counted": float(sum(data.footfall.column("entries"))),
                "flows": len(data.flows.rows),
                "p_used_mean": data.p_used_mean if data.p_used_mean is not None else float("nan"),
            }
        )

    return report


def build_report_assets(partitions: ReportPartitions, reports_dir: Path) -> list[dg.AssetsDefinition]:
    """The daily and the weekly report asset, in that order."""
    return [_build("daily", partitions.daily, reports_dir), _build("weekly", partitions.weekly, reports_dir)]
