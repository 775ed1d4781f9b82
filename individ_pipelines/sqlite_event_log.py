"""Dagster's SQLite event log, keeping a database engine per file instead of creating one per event.

``SqliteEventLogStorage`` opens every transaction through a new SQLAlchemy engine without a pool,
so each event pays for a new engine, a new connection and a fresh compilation of its INSERT
statements (the statement cache lives on the engine): 21-22 ms an event on an idle core of the
2-core target, 39 ms under load, for a day run's ~1,000 events and the ~750 "planned" events
written before it starts. Keeping the engines of the files in use (the index and the few run files
being written or read) brings that to 5-10 ms. Everything else - the files, their schema, the
locking that lets the daemon, the webserver and the run worker share them - stays Dagster's: SQLite
serializes writers across processes whether or not a connection stays open between transactions.

Postgres (``INDIVID_DAGSTER_POSTGRES_URL``) remains the storage for a production deployment.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
        self._engines: OrderedDict[str, Engine] = OrderedDict()
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

    def _engine_for(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
            )
            self._engines[shard] = engine
            while len(self._engines) > MAX_OPEN_FILES:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()
        self._engines.move_to_end(shard)
        return engine

    def _close_engines(self) -> None:
        with self._db_lock:
            while self._engines:
                _, engine = self._engines.popitem()
                engine.dispose()

    def wipe(self) -> None:
        """Close every file before Dagster deletes the run files."""
        self._close_engines()
        super().wipe()

    def dispose(self) -> None:
        self._close_engines()
        super().dispose()
