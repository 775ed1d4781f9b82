"""Dagster's SQLite event log, keeping a database engine per file instead of creating one per event.

``SqliteEventLogStorage`` opens every transaction through a new SQLAlchemy engine without a pool,
so each event pays for a new engine, a new connection and a fresh compilation of its INSERT
statements (the statement cache lives on the engine): 21-22 ms an event on an idle core of the
2-core target, 39 ms under load, for a day run's ~1,000 events and the ~750 "planned" events
written before it starts. Keeping the engines of the files in use (the index and the few run files
being written or read) brings that to 5-10 ms. Everything else - the files, their schema, the
locking that lets the daemon, the webserver and the run worker share them - stays Dagster's: SQLite
serializes writers across processes whether or not a connection stays open between transactions
(an idle pooled connection holds no transaction).

Two things followed from Dagster's connection closing after every event and are kept explicitly:
* the UI's live run log: Dagster watches a run's ``.db`` file for changes, which only came from the
  checkpoint that closing the last connection runs; with connections kept open the run's events stay
  in the ``-wal`` file, so runs are watched by polling, as Dagster's Postgres storage does;
* a run file deleted by another process (``wipe``): a kept connection would write on into the deleted
  file, so a file whose identity changed is reopened (an ``os.stat`` per transaction).

Postgres (``INDIVID_DAGSTER_POSTGRES_URL``) remains the storage for a production deployment.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.polling_event_watcher import SqlPollingEventWatcher
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine

# The index file, the run being written and the runs a UI page reads: older engines are closed.
MAX_OPEN_FILES = 4


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with one engine (and its connection pool) per open database file."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, tuple[Engine, tuple[int, int]]] = OrderedDict()
        self._run_watcher: SqlPollingEventWatcher | None = None
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine_for(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as connection, connection.begin():
                yield connection

    def _file_identity(self, shard: str) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path_for_shard(shard))
        except FileNotFoundError:
            return None
        return stat.st_dev, stat.st_ino

    def _engine_for(self, shard: str) -> Engine:
        """The shard's engine; a new one when the file is new, was never opened, or was replaced meanwhile."""
        identity = self._file_identity(shard)
        kept = self._engines.get(shard)
        if kept is not None and (identity is None or kept[1] != identity):
            self._engines.pop(shard)[0].dispose()
            self._initialized_dbs.discard(shard)  # recreate the schema in the new file
            kept = None
        if kept is None:
            engine = create_engine(
                self.conn_string_for_shard(shard), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
            )
            if identity is None:  # let SQLite create the file now, so its identity is the one kept
                with engine.connect():
                    pass
                identity = self._file_identity(shard) or (0, 0)
            kept = self._engines[shard] = (engine, identity)
            while len(self._engines) > MAX_OPEN_FILES:
                self._engines.popitem(last=False)[1][0].dispose()
        self._engines.move_to_end(shard)
        return kept[0]

    def _close_engines(self) -> None:
        while self._engines:
            self._engines.popitem()[1][0].dispose()

    def watch(self, run_id: str, cursor: str | None, callback: Callable[[EventLogEntry, str], None]) -> None:
        """Follow a run by polling its events (Dagster's file watcher would see nothing, see above)."""
        if self._run_watcher is None:
            self._run_watcher = SqlPollingEventWatcher(self)
        self._run_watcher.watch_run(run_id, cursor, callback)

    def end_watch(self, run_id: str, handler: Callable[[EventLogEntry, str], None]) -> None:
        if self._run_watcher is not None:
            self._run_watcher.unwatch_run(run_id, handler)

    def wipe(self) -> None:
        """Close every file before Dagster deletes the run files (other processes reopen theirs, see above)."""
        with self._db_lock:
            self._close_engines()
        super().wipe()

    def dispose(self) -> None:
        if self._run_watcher is not None:
            self._run_watcher.close()  # first: its threads read through the engines
            self._run_watcher = None
        super().dispose()
        with self._db_lock:
            self._close_engines()
