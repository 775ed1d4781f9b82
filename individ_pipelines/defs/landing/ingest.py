"""Landing zone -> ``raw.*`` tables: whole segments at a time, each segment exactly once.

A ledger table, ``raw.ingested_segments``, records every segment written into the warehouse in the
same transaction as its rows, so a re-delivered or re-read segment is skipped and a crash between
the two cannot happen. Rows go in as Arrow tables (no Python row loops): a day of a busy mall is
millions of rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from individ.contract import SCHEMAS, LandingZone, Segment, Stream
from individ.site_config import SiteConfig
from individ_pipelines.warehouse import duckdb_type

LEDGER = "raw.ingested_segments"


@dataclass(frozen=True)
class IngestResult:
    stream: Stream
    segments_ingested: tuple[str, ...]
    segments_skipped: int  # already in the warehouse
    segments_quarantined: tuple[str, ...]
    rows: int


def ensure_raw_tables(connection: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema, one table per stream (contract columns + ingested_at) and the ledger."""
    connection.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for stream, schema in SCHEMAS.items():
        columns = ", ".join(f'"{field.name}" {duckdb_type(field.type)}' for field in schema)
        connection.execute(f"CREATE TABLE IF NOT EXISTS raw.{stream.value} ({columns}, ingested_at TIMESTAMPTZ)")
    connection.execute(
        f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
            segment_id VARCHAR PRIMARY KEY, stream VARCHAR, hour TIMESTAMPTZ, path VARCHAR,
            row_count BIGINT, ingested_at TIMESTAMPTZ)"""
    )


def segments_for_hours(zone: LandingZone, stream: Stream, hours: Iterable[dt.datetime]) -> list[Segment]:
    """The segments of these hours only: a run lists its own frame, whatever the history's length."""
    return zone.segments(stream, hours=hours)


def ingest_segments(
    connection: duckdb.DuckDBPyConnection,
    zone: LandingZone,
    stream: Stream,
    segments: list[Segment],
    *,
    on_quarantine: Callable[[Segment], None] = lambda segment: None,
) -> IngestResult:
    """Insert every new, valid segment; quarantine malformed ones (reported through ``on_quarantine``)."""
    ensure_raw_tables(connection)
    known = _already_ingested(connection, [s.segment_id for s in segments])
    pending = [s for s in segments if s.segment_id not in known]
    valid: list[tuple[Segment, pa.Table]] = list(zone.read_valid(stream, pending))
    valid_ids = {segment.segment_id for segment, _ in valid}
    quarantined = tuple(s.segment_id for s in pending if s.segment_id not in valid_ids)
    for segment in pending:
        if segment.segment_id in quarantined:
            on_quarantine(segment)
    # The same content delivered under two paths (or listed twice) is still one segment.
    unique: dict[str, tuple[Segment, pa.Table]] = {segment.segment_id: (segment, table) for segment, table in valid}
    rows = _insert(connection, stream, list(unique.values()))
    return IngestResult(stream, tuple(unique), len(segments) - len(pending), quarantined, rows)


def _already_ingested(connection: duckdb.DuckDBPyConnection, segment_ids: list[str]) -> set[str]:
    if not segment_ids:
        return set()
    candidates = pa.table({"segment_id": pa.array(segment_ids, pa.string())})
    connection.register("candidate_segments", candidates)
    try:
        found = connection.execute(
            f"SELECT segment_id FROM {LEDGER} JOIN candidate_segments USING (segment_id)"
        ).fetchall()
    finally:
        connection.unregister("candidate_segments")
    return {row[0] for row in found}


def _insert(connection: duckdb.DuckDBPyConnection, stream: Stream, batch: list[tuple[Segment, pa.Table]]) -> int:
    if not batch:
        return 0
    now = dt.datetime.now(dt.UTC)
    rows = pa.concat_tables([table for _, table in batch])
    ledger = pa.table(
        {
            "segment_id": [segment.segment_id for segment, _ in batch],
            "stream": [stream.value] * len(batch),
            "hour": pa.array([segment.hour for segment, _ in batch], pa.timestamp("us", tz="UTC")),
            "path": [segment.path for segment, _ in batch],
            "row_count": pa.array([table.num_rows for _, table in batch], pa.int64()),
        }
    )
    columns = ", ".join(f'"{name}"' for name in rows.column_names)
    connection.register("incoming_rows", rows)
    connection.register("incoming_segments", ledger)
    try:
        connection.execute("BEGIN TRANSACTION")
        connection.execute(
            f"INSERT INTO raw.{stream.value} ({columns}, ingested_at) SELECT {columns}, ? FROM incoming_rows", [now]
        )
        connection.execute(
            f"INSERT INTO {LEDGER} SELECT segment_id, stream, hour, path, row_count, ? FROM incoming_segments", [now]
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    finally:
        connection.unregister("incoming_rows")
        connection.unregister("incoming_segments")
    return rows.num_rows


def write_site_tables(connection: duckdb.DuckDBPyConnection, config: SiteConfig) -> dict[str, int]:
    """Replace ``raw.site``, ``raw.stores`` and ``raw.cameras`` with the site configuration."""
    connection.execute("CREATE SCHEMA IF NOT EXISTS raw")
    tables = {
        "site": pa.table(
            {
                "site_id": [config.site.id],
                "name": [config.site.name],
                "timezone": [config.site.timezone],
                "n_groups": pa.array([config.privacy.groups], pa.int32()),
                "min_members": [float(config.privacy.fictitious.min_members)],
                "min_cell_size": pa.array([config.privacy.min_cell_size], pa.int32()),
                "small_cells": [config.privacy.small_cells.value],
                "demographics_window_minutes": pa.array([config.privacy.demographics_window_minutes], pa.int32()),
                "max_lag_minutes": pa.array([config.flows.max_lag_minutes], pa.int32()),
                "lateness_minutes": pa.array([config.flows.lateness_minutes], pa.int32()),
                "p_override": pa.array([config.flows.p_override], pa.float64()),
            }
        ),
        "stores": pa.table(
            {
                "store_id": pa.array([s.id for s in config.stores], pa.string()),
                "name": pa.array([s.name for s in config.stores], pa.string()),
                "zone": pa.array([s.zone for s in config.stores], pa.string()),
            }
        ),
        "cameras": pa.table(
            {
                "camera_id": pa.array([c.id for c in config.cameras], pa.string()),
                "role": pa.array([c.role.value for c in config.cameras], pa.string()),
                "store_id": pa.array([c.store for c in config.cameras], pa.string()),
                "zone": pa.array([c.zone for c in config.cameras], pa.string()),
            }
        ),
    }
    for name, table in tables.items():
        connection.register("site_table", table)
        try:
            connection.execute(f"CREATE OR REPLACE TABLE raw.{name} AS SELECT * FROM site_table")
        finally:
            connection.unregister("site_table")
    return {name: table.num_rows for name, table in tables.items()}
