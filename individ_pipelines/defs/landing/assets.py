"""Ingestion assets: the site metadata and the three contract streams, hour by hour."""

from collections.abc import Iterator

import dagster as dg

from individ.contract import Segment, Stream
from individ_pipelines.defs.analytics.project import longest_lag_minutes
from individ_pipelines.defs.landing import checks, ingest
from individ_pipelines.defs.landing.partitions import hours_between, read_frame
from individ_pipelines.resources import LandingZoneResource, SiteResource, WarehouseResource

GROUP = "landing"
SITE_TABLES = ("site", "stores", "cameras")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["raw", name], group_name=GROUP, description=f"raw.{name}: written from the site configuration.")
        for name in SITE_TABLES
    ],
    compute_kind="duckdb",
)
def site_metadata(site: SiteResource, warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
    """The site, its stores and cameras, replaced from the site configuration on every run."""
    with warehouse.writer() as connection:
        counts = ingest.write_site_tables(connection, site.config)
    warehouse.publish_snapshot()
    for name in SITE_TABLES:
        yield dg.MaterializeResult(asset_key=["raw", name], metadata={"rows": counts[name]})


def build_ingestion_asset(partitions_def: dg.HourlyPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="landing_ingestion",
        specs=[
            dg.AssetSpec(
                key,
                group_name=GROUP,
                description=f"raw.{stream.value}: contract v1 rows plus ingested_at, each segment once.",
                deps=[["raw", "cameras"]],
            )
            for stream, key in checks.STREAM_ASSETS.items()
        ],
        check_specs=checks.check_specs(),
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        compute_kind="duckdb",
    )
    def landing_ingestion(
        context: dg.AssetExecutionContext,
        site: SiteResource,
        landing_zone: LandingZoneResource,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        """Ingest every new segment the window's models will read: its whole site-local days plus the
        lookahead of the longest lag (already ingested segments are skipped, so this is cheap)."""
        window = context.partition_time_window
        config = site.config
        frame = read_frame(window.start, window.end, config.tz, longest_lag_minutes(config.flows.max_lag_minutes))
        hours = hours_between(*frame)
        zone = landing_zone.zone

        def report_quarantine(segment: Segment) -> None:
            context.log.error(
                f"quarantined malformed segment {segment.name} ({segment.stream}, hour {segment.hour:%Y-%m-%d %H}h); "
                f"reason in {zone.root}/_quarantine; the other segments are ingested"
            )

        results = {}
        with warehouse.writer() as connection:
            for stream in Stream:
                segments = ingest.segments_for_hours(zone, stream, hours)
                results[stream] = ingest.ingest_segments(
                    connection, zone, stream, segments, on_quarantine=report_quarantine
                )
                result = results[stream]
                context.log.info(
                    f"{stream}: {len(result.segments_ingested)} segments ({result.rows} rows) ingested, "
                    f"{result.segments_skipped} already in the warehouse, "
                    f"{len(result.segments_quarantined)} quarantined"
                )
            check_results = [
                *(checks.contract_version(connection, stream, window.start, window.end) for stream in Stream),
                checks.camera_freshness(connection, config, window.start, window.end),
                checks.camera_outages(connection, config, window.start, window.end),
                checks.fictitious_share(connection, config, window.start, window.end),
                checks.occurrences_match_heartbeats(connection, window.start, window.end),
            ]
        warehouse.publish_snapshot()
        for stream, key in checks.STREAM_ASSETS.items():
            result = results[stream]
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "rows_ingested": result.rows,
                    "segments_ingested": len(result.segments_ingested),
                    "segments_skipped": result.segments_skipped,
                    "segments_quarantined": len(result.segments_quarantined),
                },
            )
        yield from check_results

    return landing_ingestion
