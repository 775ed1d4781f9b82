"""Landing zone -> ``raw.*`` tables: whole segments at a time, each segment exactly once.

A ledger table, ``raw.ingested_segments``, records every segment written into the warehouse in the
same transaction as its rows, so a re-delivered or re-read segment is skipped and a crash between
the two cannot happen.

Two ways in, one verdict. A day of a busy mall is hundreds of segments and millions of rows; read
one by one through pyarrow and inserted as Arrow, they cost about three times what DuckDB takes to
read them all in one statement. So a batch on a local landing zone is first read by DuckDB in one
statement and proven clean: every file holds exactly the contract's columns, the rows pass the
contract's own ``validate``, and each file's rows carry its segment id and fall in its hour (the
checks ``LandingZone.read`` makes per segment). Only a batch that passes all of that goes in this
way. Any doubt (an unreadable file, a stray column, a bad value, an object-store zone) sends the
whole batch through ``LandingZone.read_valid``, segment by segment, which is the one place that
decides what is malformed and quarantines it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs

from individ.contract import SCHEMAS, TIME_COLUMN, ContractViolation, LandingZone, Segment, Stream, validate
from individ.fictitious import direction_mix
from individ.site_config import SiteConfig
from individ_pipelines.warehouse import duckdb_type

LEDGER = "raw.ingested_segments"
_GLOB_CHARACTERS = "*?[{"


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
    rows_in_bulk = _insert_in_bulk(connection, zone, stream, pending)
    if rows_in_bulk is not None:
        ingested = tuple(segment.segment_id for segment in pending)
        return IngestResult(stream, ingested, len(segments) - len(pending), (), rows_in_bulk)
    valid: list[tuple[Segment, pa.Table]] = list(zone.read_valid(stream, pending))
    valid_ids = {segment.segment_id for segment, _ in valid}
    quarantined = tuple(s.segment_id for s in pending if s.segment_id not in valid_ids)
    for segment in pending:
        if segment.segment_id in quarantined:
            on_quarantine(segment)
    # The same content delivered under two paths (or listed twice) is still one segment.
    unique: dict[str, tuple[Segment, pa.Table]] = {segment.segment_id: (segment, table) for segment, table in valid}
    tables = [table for _, table in unique.values()]
    rows = pa.concat_tables(tables) if tables else SCHEMAS[stream].empty_table()
    _insert(connection, stream, rows, [(segment, table.num_rows) for segment, table in unique.values()])
    return IngestResult(stream, tuple(unique), len(segments) - len(pending), quarantined, rows.num_rows)


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


def _insert_in_bulk(
    connection: duckdb.DuckDBPyConnection, zone: LandingZone, stream: Stream, pending: list[Segment]
) -> int | None:
    """Insert a clean batch read by DuckDB in one statement; None (nothing written) if it is not provably clean."""
    paths = {segment.path: segment for segment in pending}
    if not pending or len({s.segment_id for s in pending}) < len(pending):
        return None  # nothing to do, or the same segment twice: the per-segment path sorts that out
    if not isinstance(zone.filesystem, pafs.LocalFileSystem):
        return None  # DuckDB would need its httpfs extension, which is not installed (nothing is downloaded)
    if any(character in path for path in paths for character in _GLOB_CHARACTERS):
        return None  # DuckDB would expand the path as a pattern
    try:
        rows, row_counts = _read_clean_batch(connection, stream, paths)
    except (duckdb.Error, ContractViolation):
        return None
    _insert(connection, stream, rows, [(segment, row_counts[path]) for path, segment in paths.items()])
    return rows.num_rows


def _read_clean_batch(
    connection: duckdb.DuckDBPyConnection, stream: Stream, paths: dict[str, Segment]
) -> tuple[pa.Table, dict[str, int]]:
    """The rows of these segment files, proven valid as ``LandingZone.read`` would, and the rows per file.

    Raises ContractViolation, or a DuckDB error for an unreadable file, at the first doubt.
    """
    files = list(paths)
    names = SCHEMAS[stream].names
    # Read without this, a file lacking a nullable column would give NULLs instead of being refused.
    columns_per_file = connection.execute(
        "SELECT file_name, list(name ORDER BY name) FROM parquet_schema(?) WHERE num_children IS NULL "
        "GROUP BY file_name",
        [files],
    ).fetchall()
    if len(columns_per_file) != len(files) or any(found != sorted(names) for _, found in columns_per_file):
        raise ContractViolation(f"{stream}: a segment's columns differ from contract v1")
    source = "read_parquet(?, hive_partitioning = false, union_by_name = true, filename = true)"
    hour = f"date_trunc('hour', \"{TIME_COLUMN[stream]}\")"
    per_file = connection.execute(
        f"SELECT filename, count(*), min(segment_id), max(segment_id), min({hour}), max({hour}) FROM {source} "
        "GROUP BY filename",
        [files],
    ).fetchall()
    row_counts = {}
    for path, count, first_id, last_id, first_hour, last_hour in per_file:
        segment = paths.get(path)
        if (
            segment is None
            or not first_id == last_id == segment.segment_id
            or not first_hour == last_hour == segment.hour
        ):
            raise ContractViolation(f"{stream}: a segment's rows do not match its name or hour")
        row_counts[path] = count
    if len(row_counts) != len(files):
        raise ContractViolation(f"{stream}: empty segment")
    columns = ", ".join(f'"{name}"' for name in names)
    rows = connection.sql(f"SELECT {columns} FROM {source}", params=[files]).to_arrow_table()
    return validate(stream, rows), row_counts


def _insert(
    connection: duckdb.DuckDBPyConnection, stream: Stream, rows: pa.Table, segments: list[tuple[Segment, int]]
) -> None:
    """The rows and their segments' ledger entries (segment, row count) in one transaction."""
    if not segments:
        return
    now = dt.datetime.now(dt.UTC)
    ledger = pa.table(
        {
            "segment_id": pa.array([segment.segment_id for segment, _ in segments], pa.string()),
            "stream": pa.array([stream.value] * len(segments), pa.string()),
            "hour": pa.array([segment.hour for segment, _ in segments], pa.timestamp("us", tz="UTC")),
            "path": pa.array([segment.path for segment, _ in segments], pa.string()),
            "row_count": pa.array([count for _, count in segments], pa.int64()),
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


def write_site_tables(connection: duckdb.DuckDBPyConnection, config: SiteConfig) -> dict[str, int]:
    """Replace ``raw.site``, ``raw.stores`` and ``raw.cameras`` with the site configuration."""
    connection.execute("CREATE SCHEMA IF NOT EXISTS raw")
    mixes = [direction_mix(camera) for camera in config.cameras]
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
                # The sensor's fixed mix of directions for its fictitious rows: footfall removes them per direction.
                "fictitious_share_in": pa.array([mix.get("in", 0.0) for mix in mixes], pa.float64()),
                "fictitious_share_out": pa.array([mix.get("out", 0.0) for mix in mixes], pa.float64()),
                "fictitious_share_unknown": pa.array([mix.get("unknown", 0.0) for mix in mixes], pa.float64()),
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
