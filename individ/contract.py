"""Event contract v1: the only coupling between the sensor and the analytics platform.

Three anonymous streams, written as Parquet segments into a landing zone::

    <root>/<stream>/date=YYYY-MM-DD/hour=HH/<segment_id>.parquet

* ``occurrences``: one row per person passing a camera (time, camera, group). No row says whether
  it is real or fictitious.
* ``demographics``: aggregated counts per camera, window, age band and gender; never per person,
  and never joinable to occurrences.
* ``heartbeats``: sensor health per camera and minute, including the published fictitious-person
  plan that the analytics need to correct counts. The fields that follow the persons in view
  (``HEARTBEAT_HOUR_TOTALS``) are published per camera-hour only, never per minute: per minute they
  would tell which minutes held real persons, and so which occurrence rows are real.

Writes are atomic (temporary name, fsync, rename), segment ids are derived from the content, so a
re-delivered segment lands on the same path and is counted once. Readers validate every segment;
a malformed one is moved to ``<root>/_quarantine/`` with a reason file and never stops the rest.
The root is a local folder or an object-store URL (``s3://bucket/prefix``) through pyarrow's
filesystem layer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
N_GROUPS = 1000
AGE_BANDS: tuple[str, ...] = (
    "0-17",
    "18-27",
    "28-37",
    "38-47",
    "48-57",
    "58-67",
    "68-77",
    "78+",
    "unknown",
)
GENDERS: tuple[str, ...] = ("female", "male", "unknown")
DIRECTIONS: tuple[str, ...] = ("in", "out", "unknown")
STREAM_STATUSES: tuple[str, ...] = ("ok", "reconnecting", "down", "stopped")

QUARANTINE_DIR = "_quarantine"
TEMP_PREFIX = ".tmp-"
_METADATA_KEY = b"individ.contract"


class Stream(StrEnum):
    OCCURRENCES = "occurrences"
    DEMOGRAPHICS = "demographics"
    HEARTBEATS = "heartbeats"


_UTC_SECONDS = pa.timestamp("ms", tz="UTC")  # Parquet has no second unit; values are whole seconds.

_COMMON = [
    pa.field("schema_version", pa.int16(), nullable=False),
    pa.field("site_id", pa.string(), nullable=False),
    pa.field("sensor_id", pa.string(), nullable=False),
    pa.field("segment_id", pa.string(), nullable=False),
    pa.field("camera_id", pa.string(), nullable=False),
]

SCHEMAS: dict[Stream, pa.Schema] = {
    Stream.OCCURRENCES: pa.schema(
        [
            *_COMMON,
            pa.field("observed_at", _UTC_SECONDS, nullable=False),
            pa.field("group_id", pa.int16(), nullable=False),
            pa.field("direction", pa.string(), nullable=False),
        ]
    ),
    Stream.DEMOGRAPHICS: pa.schema(
        [
            *_COMMON,
            pa.field("window_start", _UTC_SECONDS, nullable=False),
            pa.field("window_minutes", pa.int16(), nullable=False),
            pa.field("age_band", pa.string(), nullable=False),
            pa.field("gender", pa.string(), nullable=False),
            pa.field("count", pa.int32(), nullable=False),
        ]
    ),
    Stream.HEARTBEATS: pa.schema(
        [
            *_COMMON,
            pa.field("minute_start", _UTC_SECONDS, nullable=False),
            # Per minute: frames read and corrupt, the plan, the stream status and the key epoch.
            # Camera-hour totals on the hour's last row (HEARTBEAT_HOUR_TOTALS): the other fields.
            pa.field("frames_read", pa.int32(), nullable=False),
            pa.field("frames_processed", pa.int32(), nullable=False),
            pa.field("frames_dropped", pa.int32(), nullable=False),
            pa.field("frames_corrupt", pa.int32(), nullable=False),
            pa.field("persons_detected", pa.int32(), nullable=False),
            pa.field("occurrences_emitted", pa.int32(), nullable=False),
            pa.field("fictitious_emitted", pa.int32(), nullable=False),
            # Expected fictitious persons per group in this camera-hour, fixed in advance.
            pa.field("fictitious_plan_per_group", pa.float64(), nullable=False),
            pa.field("stream_status", pa.string(), nullable=False),
            pa.field("latency_p50_ms", pa.float64(), nullable=True),
            pa.field("latency_p99_ms", pa.float64(), nullable=True),
            pa.field("lsh_key_epoch", pa.int64(), nullable=False),
        ]
    ),
}

# Heartbeat fields that follow the persons in view (frames processed and dropped, persons detected, real
# and fictitious occurrences emitted, frame-to-deletion latency): the camera-hour's total, carried by the
# last row the sensor wrote in the hour - the hour's last minute, or its last minute before it stopped (a
# sensor restarted within the hour writes a second total for the rest of it); every other row holds 0 and
# null latencies. Summing a camera-hour's rows gives the total, and the latency percentiles are over all of
# the hour's frames. Files of older sensors carry a total per minute: their sums are the same totals, so
# the schema version stays 1 (their latencies are per minute). A crashed sensor loses the hour's totals.
HEARTBEAT_HOUR_TOTALS: tuple[str, ...] = (
    "frames_processed",
    "frames_dropped",
    "persons_detected",
    "occurrences_emitted",
    "fictitious_emitted",
    "latency_p50_ms",
    "latency_p99_ms",
)

# The column that places a row in an hour partition, per stream.
TIME_COLUMN: dict[Stream, str] = {
    Stream.OCCURRENCES: "observed_at",
    Stream.DEMOGRAPHICS: "window_start",
    Stream.HEARTBEATS: "minute_start",
}

_ENUMS: dict[Stream, dict[str, tuple[str, ...]]] = {
    Stream.OCCURRENCES: {"direction": DIRECTIONS},
    Stream.DEMOGRAPHICS: {"age_band": AGE_BANDS, "gender": GENDERS},
    Stream.HEARTBEATS: {"stream_status": STREAM_STATUSES},
}
_NON_NEGATIVE: dict[Stream, tuple[str, ...]] = {
    Stream.OCCURRENCES: (),
    Stream.DEMOGRAPHICS: ("count",),
    Stream.HEARTBEATS: (
        "frames_read",
        "frames_processed",
        "frames_dropped",
        "frames_corrupt",
        "persons_detected",
        "occurrences_emitted",
        "fictitious_emitted",
        "fictitious_plan_per_group",
        "lsh_key_epoch",
    ),
}
# Columns the writer fills in itself; producers pass every other column.
_WRITER_COLUMNS = ("schema_version", "site_id", "sensor_id", "segment_id")


class ContractViolation(ValueError):
    """A segment or a batch of rows does not satisfy event contract v1."""


@dataclass(frozen=True)
class Segment:
    """One Parquet segment in the landing zone."""

    stream: Stream
    segment_id: str
    hour: dt.datetime  # UTC start of the hour partition
    path: str  # path within the landing zone's filesystem

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class HourFolder:
    """One hour partition folder of a stream in the landing zone."""

    stream: Stream
    hour: dt.datetime  # UTC start of the hour
    # The folder's modification time: it changes whenever a segment lands in, or leaves, the folder.
    # None on object stores, which have no folders.
    modified_ns: int | None


def validate(stream: Stream, table: pa.Table) -> pa.Table:
    """Check a table against the v1 schema and value rules; return it cast to the exact schema.

    Messages name the column and the rule but never quote row values.
    """
    schema = SCHEMAS[stream]
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise ContractViolation(f"{stream}: missing columns {missing}")
    extra = [c for c in table.column_names if c not in schema.names]
    if extra:
        raise ContractViolation(f"{stream}: unexpected columns {extra} (not in contract v1)")
    table = table.select(schema.names)
    try:
        table = table.cast(schema, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ContractViolation(f"{stream}: column types do not match contract v1 ({exc})") from None
    for field in schema:
        if not field.nullable and table.column(field.name).null_count:
            raise ContractViolation(f"{stream}: column {field.name!r} has nulls")
    if table.num_rows == 0:
        return table
    versions = pc.unique(table.column("schema_version")).to_pylist()
    if versions != [SCHEMA_VERSION]:
        raise ContractViolation(f"{stream}: schema_version {versions}, this reader knows {SCHEMA_VERSION}")
    for column, allowed in _ENUMS[stream].items():
        bad = pc.sum(pc.invert(pc.is_in(table.column(column), pa.array(allowed)))).as_py()
        if bad:
            raise ContractViolation(f"{stream}: {bad} rows with {column!r} outside {list(allowed)}")
    for column in _NON_NEGATIVE[stream]:
        if pc.min(table.column(column)).as_py() < 0:
            raise ContractViolation(f"{stream}: negative values in {column!r}")
    if stream is Stream.OCCURRENCES:
        groups = table.column("group_id")
        if pc.min(groups).as_py() < 0 or pc.max(groups).as_py() >= N_GROUPS:
            raise ContractViolation(f"{stream}: group_id outside 0..{N_GROUPS - 1}")
    if stream is Stream.DEMOGRAPHICS and pc.min(table.column("window_minutes")).as_py() <= 0:
        raise ContractViolation(f"{stream}: window_minutes must be positive")
    millis = pc.cast(table.column(TIME_COLUMN[stream]), pa.int64())
    if pc.sum(pc.not_equal(pc.multiply(pc.divide(millis, 1000), 1000), millis)).as_py():
        raise ContractViolation(f"{stream}: {TIME_COLUMN[stream]!r} must be whole seconds")
    for key in ("site_id", "sensor_id", "segment_id", "camera_id"):
        if pc.min(pc.utf8_length(table.column(key))).as_py() == 0:
            raise ContractViolation(f"{stream}: empty {key!r}")
    return table


def segment_id_for(stream: Stream, sensor_id: str, hour: dt.datetime, payload: pa.Table, batch: str = "") -> str:
    """A stable id: the same rows of the same batch from the same sensor always get the same id."""
    digest = hashlib.sha256(batch.encode())
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, payload.schema) as writer:
        writer.write_table(payload)
    digest.update(sink.getvalue().to_pybytes())
    return f"{stream.value[:3]}-{_safe(sensor_id)}-{hour:%Y%m%dT%H}-{digest.hexdigest()[:20]}"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def _hour_of(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


class LandingZone:
    """Reads and writes contract segments under one root (local folder or ``s3://`` URL)."""

    def __init__(self, root: str | os.PathLike[str], filesystem: pafs.FileSystem | None = None) -> None:
        location = os.fspath(root)
        if filesystem is None:
            if "://" not in location:
                location = os.path.abspath(location)
            filesystem, location = pafs.FileSystem.from_uri(location)
        self.filesystem: pafs.FileSystem = filesystem
        self.root: str = location.rstrip("/")
        self._local = isinstance(filesystem, pafs.LocalFileSystem)

    # -- writing ---------------------------------------------------------------------------------

    def write(
        self,
        stream: Stream,
        rows: pa.Table | Mapping[str, Any],
        *,
        site_id: str,
        sensor_id: str,
        batch: str = "",
    ) -> list[Segment]:
        """Validate rows, split them by hour and write one atomic segment per hour.

        ``rows`` holds every contract column except the ones the writer fills in
        (schema_version, site_id, sensor_id, segment_id). The segment id is derived from the rows and
        ``batch``: writing the same batch again (a retry, a re-delivery) lands on the same segment, while a
        producer that can emit two different batches with identical rows (two partial demographic windows
        with equal counts) tells them apart with distinct ``batch`` keys.
        """
        table = rows if isinstance(rows, pa.Table) else pa.table(dict(rows))
        if table.num_rows == 0:
            return []
        clash = [c for c in _WRITER_COLUMNS if c in table.column_names]
        if clash:
            raise ContractViolation(f"{stream}: columns {clash} are set by the writer, not the producer")
        time_column = TIME_COLUMN[stream]
        hours = pc.floor_temporal(pc.cast(table.column(time_column), _UTC_SECONDS), unit="hour")
        segments = []
        for hour_value in pc.unique(hours).to_pylist():
            part = table.filter(pc.equal(hours, pa.scalar(hour_value, _UTC_SECONDS)))
            segments.append(self._write_hour(stream, part, _hour_of(hour_value), site_id, sensor_id, batch))
        return segments

    def _write_hour(
        self, stream: Stream, part: pa.Table, hour: dt.datetime, site_id: str, sensor_id: str, batch: str
    ) -> Segment:
        n = part.num_rows
        payload = validate(
            stream,
            part.append_column("schema_version", pa.array([SCHEMA_VERSION] * n, pa.int16()))
            .append_column("site_id", pa.array([site_id] * n, pa.string()))
            .append_column("sensor_id", pa.array([sensor_id] * n, pa.string()))
            .append_column("segment_id", pa.array(["pending"] * n, pa.string())),
        )
        segment_id = segment_id_for(stream, sensor_id, hour, payload.drop(["segment_id"]), batch)
        index = payload.schema.get_field_index("segment_id")
        payload = payload.set_column(index, payload.schema.field(index), pa.array([segment_id] * n, pa.string()))
        metadata = {_METADATA_KEY: json.dumps({"stream": stream.value, "schema_version": SCHEMA_VERSION}).encode()}
        payload = payload.replace_schema_metadata(metadata)
        folder = self._hour_folder(stream, hour)
        final = f"{folder}/{segment_id}.parquet"
        self._write_atomically(folder, final, payload)
        return Segment(stream, segment_id, hour, final)

    def _day_folder(self, stream: Stream, day: dt.date) -> str:
        return f"{self.root}/{stream.value}/date={day:%Y-%m-%d}"

    def _hour_folder(self, stream: Stream, hour: dt.datetime) -> str:
        return f"{self._day_folder(stream, hour.date())}/hour={hour:%H}"

    def _write_atomically(self, folder: str, final: str, payload: pa.Table) -> None:
        """Write to a temporary name, make it durable, then rename: readers never see a partial file."""
        self.filesystem.create_dir(folder, recursive=True)
        temp = f"{folder}/{TEMP_PREFIX}{uuid.uuid4().hex}.parquet"
        try:
            if self._local:
                with open(temp, "wb") as handle:
                    pq.write_table(payload, handle, compression="zstd")
                    handle.flush()
                    os.fsync(handle.fileno())
            else:
                with self.filesystem.open_output_stream(temp) as handle:
                    pq.write_table(payload, handle, compression="zstd")
            self.filesystem.move(temp, final)
            if self._local:
                _fsync_dir(folder)
        except BaseException:
            self._remove_quietly(temp)
            raise

    def _remove_quietly(self, path: str) -> None:
        with contextlib.suppress(OSError):
            self.filesystem.delete_file(path)

    # -- reading ---------------------------------------------------------------------------------

    def segments(
        self, stream: Stream, *, hours: Iterable[dt.datetime] | None = None, since: dt.datetime | None = None
    ) -> list[Segment]:
        """Complete segments of a stream, oldest hour first (temporary files are invisible).

        Without arguments every hour is listed, so the cost grows with history. ``hours`` lists only
        those hour folders (one listing each); ``since`` lists the day folders from its day on and keeps
        the hours from it on (one recursive listing per day: fewer requests than per hour on an object
        store).
        """
        if hours is not None and since is not None:
            raise ValueError("give hours or since, not both")
        if hours is not None:
            folders = [self._hour_folder(stream, hour) for hour in sorted({_hour_of(h) for h in hours})]
            listings = [pafs.FileSelector(folder, allow_not_found=True) for folder in folders]
        elif since is not None:
            first_day = _hour_of(since).date()
            days = [day for day in self._days(stream) if day >= first_day]
            listings = [
                pafs.FileSelector(self._day_folder(stream, day), recursive=True, allow_not_found=True) for day in days
            ]
        else:
            listings = [pafs.FileSelector(f"{self.root}/{stream.value}", recursive=True, allow_not_found=True)]
        found = [segment for selector in listings for segment in self._segments_in(stream, selector)]
        if since is not None:
            found = [segment for segment in found if segment.hour >= _hour_of(since)]
        return sorted(found, key=lambda s: (s.hour, s.segment_id))

    def hour_folders(self, stream: Stream, *, since: dt.datetime | None = None) -> list[HourFolder]:
        """The hour partitions of a stream from ``since`` on, oldest first, with their folders' modification
        times; lists day and hour folders only, never the segments in them."""
        first_hour = _hour_of(since) if since is not None else None
        found = []
        for day in self._days(stream):
            if first_hour is not None and day < first_hour.date():
                continue
            selector = pafs.FileSelector(self._day_folder(stream, day), allow_not_found=True)
            for info in self.filesystem.get_file_info(selector):
                hour = _hour_from_folder(info.path) if info.type == pafs.FileType.Directory else None
                if hour is not None and (first_hour is None or hour >= first_hour):
                    found.append(HourFolder(stream, hour, info.mtime_ns))
        return sorted(found, key=lambda folder: folder.hour)

    def _days(self, stream: Stream) -> list[dt.date]:
        selector = pafs.FileSelector(f"{self.root}/{stream.value}", allow_not_found=True)
        days = []
        for info in self.filesystem.get_file_info(selector):
            if info.type == pafs.FileType.Directory and info.base_name.startswith("date="):
                with contextlib.suppress(ValueError):
                    days.append(dt.date.fromisoformat(info.base_name.removeprefix("date=")))
        return sorted(days)

    def _segments_in(self, stream: Stream, selector: pafs.FileSelector) -> Iterator[Segment]:
        for info in self.filesystem.get_file_info(selector):
            if info.type != pafs.FileType.File or not info.base_name.endswith(".parquet"):
                continue
            if info.base_name.startswith(TEMP_PREFIX):
                continue
            hour = _hour_from_path(info.path)
            if hour is not None:
                yield Segment(stream, info.base_name.removesuffix(".parquet"), hour, info.path)

    def read(self, segment: Segment) -> pa.Table:
        """Read and validate one segment; raise ContractViolation if it is malformed."""
        try:
            with self.filesystem.open_input_file(segment.path) as handle:
                table = pq.read_table(handle)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ContractViolation(f"{segment.stream}: unreadable Parquet ({type(exc).__name__}: {exc})") from None
        table = validate(segment.stream, table.replace_schema_metadata(None))
        if table.num_rows == 0:
            raise ContractViolation(f"{segment.stream}: empty segment")
        ids = pc.unique(table.column("segment_id")).to_pylist()
        if ids != [segment.segment_id]:
            raise ContractViolation(f"{segment.stream}: segment_id inside the file does not match its name")
        hours = pc.unique(pc.floor_temporal(table.column(TIME_COLUMN[segment.stream]), unit="hour"))
        if [_hour_of(h) for h in hours.to_pylist()] != [segment.hour]:
            raise ContractViolation(f"{segment.stream}: rows fall outside the segment's hour partition")
        return table

    def read_valid(self, stream: Stream, segments: list[Segment] | None = None) -> Iterator[tuple[Segment, pa.Table]]:
        """Yield every valid segment; quarantine the malformed ones and carry on."""
        for segment in self.segments(stream) if segments is None else segments:
            try:
                table = self.read(segment)
            except ContractViolation as exc:
                self.quarantine(segment, str(exc))
                continue
            yield segment, table

    def quarantine(self, segment: Segment, reason: str) -> str:
        """Move a malformed segment aside with a reason file; return its new path."""
        relative = segment.path[len(self.root) + 1 :]
        target = f"{self.root}/{QUARANTINE_DIR}/{relative}"
        self.filesystem.create_dir(target.rsplit("/", 1)[0], recursive=True)
        self.filesystem.move(segment.path, target)
        record = {
            "segment": relative,
            "reason": reason,
            "quarantined_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "schema_version_expected": SCHEMA_VERSION,
        }
        with self.filesystem.open_output_stream(target + ".reason.json") as handle:
            handle.write(json.dumps(record, indent=2).encode())
        log.error("quarantined segment %s: %s", relative, reason)
        return target

    def quarantined(self) -> list[dict[str, Any]]:
        """The reason records of every quarantined segment."""
        selector = pafs.FileSelector(f"{self.root}/{QUARANTINE_DIR}", recursive=True, allow_not_found=True)
        records = []
        for info in self.filesystem.get_file_info(selector):
            if info.type == pafs.FileType.File and info.base_name.endswith(".reason.json"):
                with self.filesystem.open_input_stream(info.path) as handle:
                    records.append(json.loads(handle.read()))
        return records


def _hour_from_path(path: str) -> dt.datetime | None:
    """The hour partition of a segment's path (``.../date=YYYY-MM-DD/hour=HH/<segment>.parquet``)."""
    return _hour_from_folder(path.rsplit("/", 1)[0])


def _hour_from_folder(folder: str) -> dt.datetime | None:
    parts = folder.split("/")
    if len(parts) < 2 or not parts[-2].startswith("date=") or not parts[-1].startswith("hour="):
        return None
    try:
        day = dt.date.fromisoformat(parts[-2].removeprefix("date="))
        hour = int(parts[-1].removeprefix("hour="))
        return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)
    except ValueError:
        return None


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
