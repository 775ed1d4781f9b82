"""Reading the stored contract data of one period, read-only.

The audit never changes what it audits: a malformed segment is listed (and counted as a finding by
the scan), not quarantined as the ingestion would do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from individ.contract import SCHEMAS, ContractViolation, LandingZone, Stream


@dataclass(frozen=True)
class StoredData:
    """The three streams of one period, as read from the landing zone."""

    occurrences: pl.DataFrame
    demographics: pl.DataFrame
    heartbeats: pl.DataFrame
    segments: dict[str, int]  # valid segments read per stream
    unreadable: list[tuple[str, str]]  # (path within the landing zone, reason)


def _empty(stream: Stream) -> pl.DataFrame:
    return pl.from_arrow(SCHEMAS[stream].empty_table())  # type: ignore[return-value]


def load_stored_data(landing: LandingZone, start: dt.datetime, end: dt.datetime) -> StoredData:
    """Every valid segment whose hour lies in [start, end), rows outside the period dropped."""
    frames: dict[Stream, list[pl.DataFrame]] = {stream: [] for stream in Stream}
    unreadable: list[tuple[str, str]] = []
    for stream in Stream:
        for segment in landing.segments(stream):
            if not start <= segment.hour < end:
                continue
            try:
                table = landing.read(segment)
            except ContractViolation as exc:
                unreadable.append((segment.path[len(landing.root) + 1 :], str(exc)))
                continue
            frames[stream].append(pl.from_arrow(table))  # type: ignore[arg-type]
    tables = {stream: pl.concat(parts, how="vertical") if parts else _empty(stream) for stream, parts in frames.items()}
    return StoredData(
        occurrences=tables[Stream.OCCURRENCES],
        demographics=tables[Stream.DEMOGRAPHICS],
        heartbeats=tables[Stream.HEARTBEATS],
        segments={stream.value: len(frames[stream]) for stream in Stream},
        unreadable=unreadable,
    )
