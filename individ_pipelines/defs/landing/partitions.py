"""Hourly UTC partitions: the unit of ingestion, of dbt windows and of sensor-triggered runs."""

from __future__ import annotations

import datetime as dt
import math

import dagster as dg

HOUR = dt.timedelta(hours=1)


def hourly_partitions(start: str) -> dg.HourlyPartitionsDefinition:
    """Hourly partitions in UTC from ``start`` (``YYYY-MM-DD-HH:MM``)."""
    return dg.HourlyPartitionsDefinition(start_date=start, timezone="UTC")


def lookahead_hours(lag_minutes: int) -> int:
    """Hours after an hour whose events still count for it (a pass in h pairs with passes up to h_end + lag)."""
    return math.ceil(lag_minutes / 60)


def read_frame(
    start: dt.datetime, end: dt.datetime, tz: dt.tzinfo, lag_minutes: int
) -> tuple[dt.datetime, dt.datetime]:
    """The UTC span the models read to compute [start, end): whole site-local days (the chance rate and p
    are fitted per day) plus the lookahead of the longest lag."""
    first_day = start.astimezone(tz).date()
    last_day = (end - dt.timedelta(microseconds=1)).astimezone(tz).date()
    frame_start = dt.datetime.combine(first_day, dt.time(), tz).astimezone(dt.UTC)
    frame_end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)
    return frame_start, frame_end + lookahead_hours(lag_minutes) * HOUR


def hours_between(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """UTC hour starts in [start, end)."""
    first = start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while first < end:
        hours.append(first)
        first += HOUR
    return hours


def partition_key(hour: dt.datetime) -> str:
    return hour.astimezone(dt.UTC).strftime("%Y-%m-%d-%H:%M")


def hour_of_key(key: str) -> dt.datetime:
    return dt.datetime.strptime(key, "%Y-%m-%d-%H:%M").replace(tzinfo=dt.UTC)
