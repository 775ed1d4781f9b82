"""Scans of everything stored: the landing zone's files and the warehouse's tables.

Only contract data may be at rest. The landing zone may hold contract segments, the ingestion's
quarantine (malformed segments with their reason files) and in-flight temporary segments; anything else
is a finding, and so is any file that looks like an image, a video, an array, a pickle or key material,
whatever its name. The warehouse may hold the raw contract tables and the models built from them; a
binary or list column, a vector of floats, free text or a column whose name speaks of images,
embeddings or keys is a finding.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from individ.contract import QUARANTINE_DIR, SCHEMAS, TEMP_PREFIX, LandingZone, Stream

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image (JPEG)"),
    (b"\x89PNG\r\n\x1a\n", 0, "image (PNG)"),
    (b"GIF87a", 0, "image (GIF)"),
    (b"GIF89a", 0, "image (GIF)"),
    (b"BM", 0, "image (BMP)"),
    (b"II*\x00", 0, "image (TIFF)"),
    (b"MM\x00*", 0, "image (TIFF)"),
    (b"\x00\x00\x00\x0cjP  ", 0, "image (JPEG 2000)"),
    (b"ftyp", 4, "video (MP4/MOV)"),
    (b"\x1aE\xdf\xa3", 0, "video (Matroska/WebM)"),
    (b"\x93NUMPY", 0, "array (NumPy .npy)"),
    (b"PK\x03\x04", 0, "archive (zip/.npz)"),
    (b"\x89HDF\r\n\x1a\n", 0, "array (HDF5)"),
    (b"\x80\x04", 0, "pickle"),
    (b"\x80\x05", 0, "pickle"),
    (b"-----BEGIN", 0, "key material (PEM)"),
    (b"ssh-", 0, "key material (SSH)"),
)
_UNREADABLE = "not a readable Parquet file"
_RIFF_KINDS = {b"WEBP": "image (WebP)", b"AVI ": "video (AVI)", b"WAVE": "audio (WAV)"}
_KEY_NAME = re.compile(r"(\.key|\.pem|\.p12|\.pfx|secret|keyfile|key_file|id_rsa)", re.IGNORECASE)
_HEX_OR_BASE64 = re.compile(r"^[0-9a-fA-F]{32,}$|^[A-Za-z0-9+/=_-]{40,}$")
HIGH_ENTROPY_BITS = 7.2  # bits per byte; random keys and compressed media, not text or tables
MIN_ENTROPY_BYTES = 32

# Words in a column name that say the column holds what must never be stored.
_FORBIDDEN_WORDS = frozenset(
    {
        "image",
        "images",
        "img",
        "crop",
        "crops",
        "pixel",
        "pixels",
        "photo",
        "photos",
        "snapshot",
        "face",
        "faces",
        "bbox",
        "box",
        "boxes",
        "landmarks",
        "embedding",
        "embeddings",
        "feature",
        "features",
        "vector",
        "vectors",
        "descriptor",
        "descriptors",
        "secret",
    }
)
RAW_TABLES = {
    "occurrences": Stream.OCCURRENCES,
    "demographics": Stream.DEMOGRAPHICS,
    "heartbeats": Stream.HEARTBEATS,
}
RAW_EXTRA_COLUMNS = {"ingested_at"}
# A VARCHAR column whose values average this long and mostly hold spaces is prose, not a code, id or path.
FREE_TEXT_MEAN_LENGTH = 40
FREE_TEXT_SPACED_SHARE = 0.5
# A 256-bit secret as hex (64) or base64 (43 + padding); md5-style 32-hex surrogate keys stay legal.
_KEY_TOKEN_SQL = "[0-9a-fA-F]{64,}|[A-Za-z0-9+/]{43,}={0,2}"


@dataclass(frozen=True)
class Finding:
    where: str  # "landing" or "warehouse"
    location: str  # file path within the landing zone, or schema.table.column
    kind: str  # what it looks like: "image (JPEG)", "key material (high entropy)", "unexpected column", ...
    detail: str

    @property
    def is_key_material(self) -> bool:
        return self.kind.startswith("key material")


def sniff(head: bytes) -> str | None:
    """What a file's first bytes say it is, if it is something that must not be stored."""
    for magic, offset, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[:4] == b"RIFF" and head[8:12] in _RIFF_KINDS:
        return _RIFF_KINDS[head[8:12]]
    return None


def entropy_bits(data: bytes) -> float:
    counts = Counter(data)
    total = len(data)
    return -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0


def looks_like_key_text(data: bytes) -> bool:
    """A short file holding one hex or base64 token (how key files are usually written)."""
    text = data.strip()
    if not 32 <= len(text) <= 4096 or b"\n" in text:
        return False
    try:
        return bool(_HEX_OR_BASE64.match(text.decode("ascii")))
    except UnicodeDecodeError:
        return False


def _read(filesystem: pafs.FileSystem, path: str, limit: int = 65536) -> bytes:
    with filesystem.open_input_stream(path) as handle:
        return handle.read(limit)


def _classify_segment(filesystem: pafs.FileSystem, path: str, stream: Stream | None) -> str | None:
    """None if the file is a Parquet file with exactly a contract schema; else what is wrong."""
    try:
        with filesystem.open_input_file(path) as handle:
            schema = pq.read_schema(handle)
    except Exception:  # any unreadable file is a finding, whatever the reason
        return _UNREADABLE
    names = [n for n in schema.names if n != "__index_level_0__"]
    expected = [s for s in Stream if SCHEMAS[s].names == names]
    if stream is not None and stream not in expected:
        extra = sorted(set(names) - set(SCHEMAS[stream].names))
        return f"columns do not match the {stream.value} contract" + (f" (extra: {extra})" if extra else "")
    if not expected:
        return "columns match no contract stream"
    return None


def scan_landing_zone(landing: LandingZone) -> list[Finding]:
    """Every file under the landing zone that is not contract data (read-only)."""
    findings: list[Finding] = []
    fs = landing.filesystem
    selector = pafs.FileSelector(landing.root, recursive=True, allow_not_found=True)
    for info in fs.get_file_info(selector):
        if info.type != pafs.FileType.File:
            continue
        relative = info.path[len(landing.root) + 1 :]
        parts = relative.split("/")
        head = _read(fs, info.path)
        kind = sniff(head)
        if kind is not None:
            findings.append(Finding("landing", relative, kind, f"{info.size} bytes"))
            continue
        if _KEY_NAME.search(parts[-1]) or looks_like_key_text(head):
            findings.append(
                Finding("landing", relative, "key material (key file)", "a file named or shaped like a key")
            )
            continue
        in_quarantine = parts[0] == QUARANTINE_DIR
        if in_quarantine and parts[-1].endswith(".reason.json"):
            continue
        stream = next((s for s in Stream if parts[0] == s.value), None)
        is_segment = parts[-1].endswith(".parquet") and len(parts) == 4 and stream is not None
        is_quarantined = in_quarantine and parts[-1].endswith(".parquet")
        if is_segment or is_quarantined or (parts[-1].startswith(TEMP_PREFIX) and parts[-1].endswith(".parquet")):
            # A damaged contract segment (Parquet magic, unreadable) is the ingestion's to quarantine, not a leak;
            # a readable one must carry exactly a contract schema.
            problem = None if is_quarantined and head[:4] == b"PAR1" else _classify_segment(fs, info.path, stream)
            if problem == _UNREADABLE and head[:4] == b"PAR1":
                problem = None
            if problem is not None:
                findings.append(Finding("landing", relative, "not contract data", problem))
            continue
        if len(head) >= MIN_ENTROPY_BYTES and entropy_bits(head) >= HIGH_ENTROPY_BITS:
            findings.append(
                Finding(
                    "landing",
                    relative,
                    "key material (high entropy)",
                    f"{entropy_bits(head):.2f} bits/byte, not a contract segment",
                )
            )
            continue
        findings.append(Finding("landing", relative, "unexpected file", "not a contract segment"))
    return findings


@dataclass(frozen=True)
class WarehouseScan:
    tables: int
    columns: int
    findings: list[Finding]
    source: str


def scan_warehouse(path: Path) -> WarehouseScan:
    """Every column of every table and view in the DuckDB warehouse, opened read-only.

    A run holds the file's lock; the published snapshot next to it is read instead (same content as of
    the last run).
    """
    import duckdb

    candidates = [path, path.with_name("warehouse.snapshot.duckdb")]
    last_error: Exception | None = None
    for candidate in candidates:
        if not candidate.is_file():
            continue
        try:
            connection = duckdb.connect(str(candidate), read_only=True)
        except duckdb.Error as exc:
            last_error = exc
            continue
        try:
            return _scan_connection(connection, candidate.name)
        finally:
            connection.close()
    if last_error is not None:
        raise RuntimeError(f"cannot open the warehouse read-only: {last_error}") from None
    raise FileNotFoundError(path)


def _scan_connection(connection: object, source: str) -> WarehouseScan:
    rows = connection.execute(  # type: ignore[attr-defined]
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() and table_schema not in ('information_schema', 'pg_catalog') "
        "order by table_schema, table_name, ordinal_position"
    ).fetchall()
    findings: list[Finding] = []
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in rows:
        tables.setdefault((schema, table), []).append((column, data_type.upper()))
    for (schema, table), columns in tables.items():
        names = {c for c, _ in columns}
        if schema == "raw" and table in RAW_TABLES:
            allowed = set(SCHEMAS[RAW_TABLES[table]].names) | RAW_EXTRA_COLUMNS
            for extra in sorted(names - allowed):
                findings.append(
                    Finding("warehouse", f"{schema}.{table}.{extra}", "unexpected column", "not in contract v1")
                )
        for column, data_type in columns:
            location = f"{schema}.{table}.{column}"
            if "[" in data_type or data_type.startswith(("LIST", "ARRAY", "STRUCT", "MAP", "UNION")):
                kind = (
                    "float vector" if any(t in data_type for t in ("FLOAT", "DOUBLE", "DECIMAL")) else "nested column"
                )
                findings.append(Finding("warehouse", location, kind, data_type))
            elif data_type in ("BLOB", "BYTEA", "BINARY", "VARBINARY"):
                findings.append(Finding("warehouse", location, "binary column", data_type))
            elif _FORBIDDEN_WORDS & set(column.lower().split("_")):
                findings.append(Finding("warehouse", location, "unexpected column", "its name speaks of personal data"))
            elif data_type == "VARCHAR":
                findings.extend(_text_findings(connection, schema, table, column, location))
    return WarehouseScan(len(tables), len(rows), findings, source)


def _text_findings(connection: object, schema: str, table: str, column: str, location: str) -> list[Finding]:
    """Free text (long prose values) and key-shaped tokens in a text column."""
    source = f'"{schema}"."{table}"'
    stats = connection.execute(  # type: ignore[attr-defined]
        f'select avg(length("{column}")), avg(case when contains("{column}", \' \') then 1.0 else 0.0 end), '
        f"count(*) filter (where regexp_full_match(\"{column}\", '{_KEY_TOKEN_SQL}')) from {source}"
    ).fetchone()
    mean_length, spaced, key_shaped = stats
    findings = []
    prose = mean_length is not None and mean_length >= FREE_TEXT_MEAN_LENGTH and spaced >= FREE_TEXT_SPACED_SHARE
    if prose:
        findings.append(Finding("warehouse", location, "free text", f"values average {mean_length:.0f} characters"))
    if key_shaped:
        findings.append(
            Finding(
                "warehouse",
                location,
                "key material (key-shaped text)",
                f"{key_shaped} values are long hex or base64 tokens",
            )
        )
    return findings
