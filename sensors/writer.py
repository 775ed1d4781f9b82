"""Buffered, retried writing of contract rows into the landing zone.

Rows wait in memory until the next flush; each flush turns a stream's waiting rows into one batch,
shuffles occurrence rows (so row order inside a segment says nothing about time order) and writes it
through ``LandingZone.write`` under a batch key unique to this process and flush. A batch that fails to
write (full disk, permissions, network) is kept and retried at every later flush, unchanged and under the
same key, so a retry lands on the same segment id, while two batches with identical rows (two partial
demographic windows with equal counts across a restart) stay two segments.
The buffer is bounded: beyond ``max_rows`` per stream the oldest rows are dropped, with an error log
line and a metric for every drop. Failures are logged loudly, shown on the health endpoint and in the
``individ_sensor_landing_zone_writable`` gauge.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from individ.contract import SCHEMAS, LandingZone, Stream
from sensors.metrics import SensorMetrics

log = logging.getLogger(__name__)

_WRITER_COLUMNS = ("schema_version", "site_id", "sensor_id", "segment_id")


@dataclass(frozen=True)
class _Batch:
    table: pa.Table
    key: str


@dataclass
class WriterStatus:
    writable: bool = True
    last_error: str | None = None
    failing_since: dt.datetime | None = None
    rows_dropped: dict[str, int] = field(default_factory=dict)


class BufferedWriter:
    """Collects rows per stream and writes them as segments at each ``flush``; thread-safe."""

    def __init__(
        self,
        landing: LandingZone,
        site_id: str,
        sensor_id: str,
        max_rows: int,
        metrics: SensorMetrics,
        rng: random.Random | None = None,
    ) -> None:
        self.landing = landing
        self.site_id = site_id
        self.sensor_id = sensor_id
        self.max_rows = max_rows
        self.metrics = metrics
        self.status = WriterStatus()
        self._rng = rng or random.SystemRandom()
        self._lock = threading.Lock()
        self._waiting: dict[Stream, list[dict[str, Any]]] = {stream: [] for stream in Stream}
        self._failed: dict[Stream, list[_Batch]] = {stream: [] for stream in Stream}
        self._batch_prefix = uuid.uuid4().hex
        self._batches_made = 0

    def add(self, stream: Stream, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with self._lock:
            self._waiting[stream].extend(rows)
            self._enforce_bound(stream)
            self._publish_sizes()

    def buffered_rows(self, stream: Stream) -> int:
        with self._lock:
            return len(self._waiting[stream]) + sum(b.table.num_rows for b in self._failed[stream])

    def flush(self) -> bool:
        """Write every waiting and previously failed batch; return True if nothing is left waiting."""
        with self._lock:
            batches = {stream: self._failed[stream] + self._batch(stream) for stream in Stream}
            for stream in Stream:
                self._failed[stream] = []
                self._waiting[stream] = []
        ok = True
        for stream, tables in batches.items():
            for index, batch in enumerate(tables):
                try:
                    segments = self.landing.write(
                        stream, batch.table, site_id=self.site_id, sensor_id=self.sensor_id, batch=batch.key
                    )
                except (OSError, pa.ArrowException) as exc:
                    self._failed_write(stream, tables[index:], exc)
                    ok = False
                    break
                self.metrics.segments_written.labels(stream.value).inc(len(segments))
        if ok and not self.status.writable:
            log.warning("landing zone writable again: buffered rows written")
            self.status.writable = True
            self.status.failing_since = None
            self.metrics.landing_zone_writable.set(1)
        with self._lock:
            self._publish_sizes()
        return ok

    # -- internals ---------------------------------------------------------------------------------

    def _batch(self, stream: Stream) -> list[_Batch]:
        rows = self._waiting[stream]
        if not rows:
            return []
        if stream is Stream.OCCURRENCES:
            rows = list(rows)
            self._rng.shuffle(rows)
        schema = SCHEMAS[stream]
        columns = [name for name in schema.names if name not in _WRITER_COLUMNS]
        fields = [schema.field(name) for name in columns]
        self._batches_made += 1
        table = pa.Table.from_pylist(rows, schema=pa.schema(fields))
        return [_Batch(table, f"{self._batch_prefix}-{self._batches_made}")]

    def _failed_write(self, stream: Stream, tables: list[_Batch], exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
        with self._lock:
            self._failed[stream] = tables + self._failed[stream]
            self._enforce_bound(stream)
            waiting = len(self._waiting[stream]) + sum(b.table.num_rows for b in self._failed[stream])
        self.metrics.write_failures.labels(stream.value).inc()
        self.metrics.landing_zone_writable.set(0)
        if self.status.writable:
            self.status.failing_since = dt.datetime.now(dt.UTC)
        self.status.writable = False
        self.status.last_error = reason
        log.error(
            "CANNOT WRITE TO THE LANDING ZONE (%s): %d %s rows kept in memory and retried at the next flush",
            reason,
            waiting,
            stream.value,
            extra={"stream": stream.value, "landing_zone": self.landing.root},
        )

    def _enforce_bound(self, stream: Stream) -> None:
        """Drop the oldest rows beyond the bound (failed batches are older than waiting rows)."""
        excess = len(self._waiting[stream]) + sum(b.table.num_rows for b in self._failed[stream]) - self.max_rows
        if excess <= 0:
            return
        dropped = excess
        failed = self._failed[stream]
        while excess > 0 and failed:
            if failed[0].table.num_rows <= excess:
                excess -= failed.pop(0).table.num_rows
            else:
                failed[0] = _Batch(failed[0].table.slice(excess), failed[0].key)
                excess = 0
        if excess > 0:
            del self._waiting[stream][:excess]
        self.metrics.rows_dropped.labels(stream.value).inc(dropped)
        self.status.rows_dropped[stream.value] = self.status.rows_dropped.get(stream.value, 0) + dropped
        log.error(
            "WRITE BUFFER FULL (%d rows): dropped the %d oldest %s rows; fix the landing zone",
            self.max_rows,
            dropped,
            stream.value,
            extra={"stream": stream.value},
        )

    def _publish_sizes(self) -> None:
        for stream in Stream:
            size = len(self._waiting[stream]) + sum(b.table.num_rows for b in self._failed[stream])
            self.metrics.buffered_rows.labels(stream.value).set(size)
