"""The DuckDB warehouse: one writer at a time, readers on a published snapshot.

DuckDB lets one process open a database file for writing and then locks it against every other
process, readers included. So:

* Writes happen only inside Dagster runs, and the instance runs one run at a time (see
  ``instance.py``); inside a run the steps share one process (in-process executor) and each step
  closes its connection before the next one, or dbt, opens the file.
* After a run step changes the warehouse it publishes a snapshot (``warehouse.snapshot.duckdb``:
  copied to a temporary name, then renamed), and readers outside runs (reports opened by hand,
  ``dbt docs generate``, notebooks) open the snapshot read-only. A reader never blocks a run and a
  run never breaks a reader: a rename leaves already-open snapshot files intact.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

SNAPSHOT_NAME = "warehouse.snapshot.duckdb"

_ARROW_TO_DUCKDB = {
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.string(): "VARCHAR",
    pa.timestamp("ms", tz="UTC"): "TIMESTAMPTZ",
}


def duckdb_type(arrow_type: pa.DataType) -> str:
    return _ARROW_TO_DUCKDB[arrow_type]


@contextmanager
def connect(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with UTC session time zone, closed on exit (which releases DuckDB's file lock)."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path), read_only=read_only)
    try:
        connection.execute("SET TimeZone = 'UTC'")
        yield connection
    finally:
        connection.close()


def snapshot_path(warehouse: Path) -> Path:
    return warehouse.with_name(SNAPSHOT_NAME)


def publish_snapshot(warehouse: Path) -> Path:
    """Copy the closed warehouse file to the snapshot readers use; atomic for the readers."""
    target = snapshot_path(warehouse)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    try:
        shutil.copyfile(warehouse, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target
