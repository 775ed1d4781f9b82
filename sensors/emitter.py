"""From pipeline events to contract rows: occurrences, fictitious persons, demographic windows, heartbeats.

Time here is each camera's own clock (the time of its latest frame; the wall clock for live sources),
so a video file processed faster than real time still gets whole windows and minutes.

* Occurrences, real and fictitious alike, leave by closed time slices only: at every clock step the
  writer gets every row timed before (clock - release hold), and no later row. A real pass reaches the
  emitter when its track ends, seconds after its time; a fictitious one is due when its time comes. Released
  by their time after a hold longer than any pass takes (the pipeline hands on every pass within half the
  hold), both land in the segment of their time slice, so the segment a row is in says nothing about its
  kind. A pass that still arrives after its slice left is dropped and counted
  (``individ_sensor_late_passes_dropped_total``), never put into a later slice where it would stand out.
  Timestamps are floored to whole seconds; rows are shuffled when a segment is written.
* Fictitious persons: for each camera-hour a plan fixed in advance from the camera's expected traffic
  (``individ.fictitious``), drawn when the camera's clock enters the hour and spread over the part of the
  hour the camera covers (from its start, so the hour it starts in gets the whole floor). At a clean close
  the planned rows not yet due are re-timed into the part of the hour not yet released, so the hour it
  stops in gets the whole floor too. Directions come from the camera's mix fixed in advance.
* Demographics: counted per camera and window, and released only when the window has ended, after the
  small-cell policy; nothing links a count to an occurrence's time.
* Heartbeats: one row per camera-minute with the counters, the frame-to-deletion latency p50/p99, the
  fictitious plan (lambda per group) of that hour, the stream status and the LSH key epoch; released with
  the occurrences of that minute, so a heartbeat still means every occurrence before its minute's end has
  left (the landing zone's watermark).
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from individ.contract import Stream
from individ.fictitious import (
    DEFAULT_RELEASE_HOLD_SECONDS,
    direction_mix,
    draw_directions,
    draw_fictitious_hour,
    plan_per_group,
    retime_offsets,
)
from individ.site_config import Camera, Direction, PrivacyParameters, SmallCellPolicy
from sensors.metrics import SensorMetrics
from sensors.sources import FrameCounters
from sensors.writer import BufferedWriter

log = logging.getLogger(__name__)

Cell = tuple[str, str]  # (age_band, gender)
UNKNOWN_CELL: Cell = ("unknown", "unknown")
HOUR = dt.timedelta(hours=1)


def apply_small_cell_policy(counts: Mapping[Cell, int], policy: SmallCellPolicy, min_size: int) -> dict[Cell, int]:
    """Cells below ``min_size`` are dropped (suppress) or moved into (unknown, unknown) (merge_unknown).

    After merging, an (unknown, unknown) cell that is still below the minimum is dropped too: no
    released cell is ever smaller than ``min_size``.
    """
    kept = {cell: n for cell, n in counts.items() if n >= min_size}
    if policy is SmallCellPolicy.MERGE_UNKNOWN:
        small = sum(n for cell, n in counts.items() if 0 < n < min_size)
        if small:
            kept[UNKNOWN_CELL] = kept.get(UNKNOWN_CELL, 0) + small
    return {cell: n for cell, n in kept.items() if n >= min_size}


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if values else None


def floor_seconds(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC).replace(microsecond=0)


def _floor(when: dt.datetime, minutes: int) -> dt.datetime:
    when = when.astimezone(dt.UTC)
    return when.replace(minute=when.minute - when.minute % minutes, second=0, microsecond=0)


@dataclass
class _MinuteStats:
    frames_processed: int = 0
    persons_detected: int = 0
    occurrences_emitted: int = 0
    fictitious_emitted: int = 0
    latencies_ms: list[float] = field(default_factory=list)


@dataclass
class _FictitiousHour:
    """One camera-hour's planned fictitious rows, sorted by time; those before ``next_index`` have left."""

    hour: dt.datetime
    times: list[dt.datetime]
    groups: list[int]
    directions: list[str]
    next_index: int = 0

    @property
    def done(self) -> bool:
        return self.next_index >= len(self.times)


class _CameraLedger:
    """Everything the emitter tracks for one camera between writes; guarded by the emitter's lock."""

    def __init__(self, camera: Camera, counters: FrameCounters) -> None:
        self.camera = camera
        self.counters = counters
        self.directions: dict[Direction, float] = direction_mix(camera)
        self.started: dt.datetime | None = None  # the camera's first clock value
        self.clock: dt.datetime | None = None
        self.released: dt.datetime | None = None  # every row timed before this has left, and no later one
        self.held: list[tuple[dt.datetime, int, dict[str, Any]]] = []  # real rows waiting: a heap by time
        self.plans: list[_FictitiousHour] = []  # drawn hours with rows still to leave
        self.next_hour: dt.datetime | None = None  # the next hour to draw a plan for
        self.minutes: dict[dt.datetime, _MinuteStats] = {}
        self.window: dict[Cell, int] = Counter()
        self.window_start: dt.datetime | None = None
        self.closed = False

    def minute(self, when: dt.datetime) -> _MinuteStats:
        return self.minutes.setdefault(_floor(when, 1), _MinuteStats())


class Emitter:
    """Receives pipeline events (it is the pipeline's ``EventSink``) and turns them into buffered rows."""

    def __init__(
        self,
        cameras: list[Camera],
        counters: Mapping[str, FrameCounters],
        privacy: PrivacyParameters,
        timezone: dt.tzinfo,
        writer: BufferedWriter,
        metrics: SensorMetrics,
        stream_status: Callable[[str], str],
        key_epoch: Callable[[dt.datetime], int],
        rng: np.random.Generator | None = None,
        release_hold: dt.timedelta = dt.timedelta(seconds=DEFAULT_RELEASE_HOLD_SECONDS),
    ) -> None:
        self.privacy = privacy
        self.release_hold = release_hold
        self.timezone = timezone
        self.writer = writer
        self.metrics = metrics
        self.stream_status = stream_status
        self.key_epoch = key_epoch
        self._rng = rng or np.random.default_rng()
        self._lock = threading.RLock()
        self._ledgers = {camera.id: _CameraLedger(camera, counters[camera.id]) for camera in cameras}
        self._arrivals = itertools.count()  # tie-break for real rows with equal times

    # -- EventSink ---------------------------------------------------------------------------------

    def occurrence(self, camera_id: str, observed_at: dt.datetime, group_id: int, direction: str) -> None:
        """A real pass: held until its time slice is released, or dropped if that slice has already left."""
        with self._lock:
            ledger = self._ledgers[camera_id]
            row = self._occurrence_row(camera_id, observed_at, group_id, direction)
            when = row["observed_at"]
            if ledger.closed or (ledger.released is not None and when < ledger.released):
                self._drop_late(ledger, when)
                return
            heapq.heappush(ledger.held, (when, next(self._arrivals), row))
            ledger.minute(ledger.clock or observed_at).occurrences_emitted += 1

    def demographic(self, camera_id: str, when: dt.datetime, age_band: str, gender: str) -> None:
        with self._lock:
            ledger = self._ledgers[camera_id]
            self._advance(ledger, when)
            ledger.window[(age_band, gender)] += 1

    def frame_processed(self, camera_id: str, when: dt.datetime, persons: int, latency_ms: float) -> None:
        with self._lock:
            ledger = self._ledgers[camera_id]
            stats = ledger.minute(when)
            stats.frames_processed += 1
            stats.persons_detected += persons
            stats.latencies_ms.append(latency_ms)
            self._advance(ledger, when)

    # -- time --------------------------------------------------------------------------------------

    def advance(self, camera_id: str, now: dt.datetime) -> None:
        """Move a camera's clock forward (the service calls this with the wall clock for live sources)."""
        with self._lock:
            self._advance(self._ledgers[camera_id], now)

    def close(self, camera_id: str, include_partial_window: bool) -> None:
        """The camera is done: re-time the rest of its plan into what it covered, release every row, write its last
        partial minute and (optionally) window."""
        with self._lock:
            ledger = self._ledgers[camera_id]
            if ledger.closed or ledger.clock is None:
                ledger.closed = True
                return
            now = ledger.clock
            self._retime_rest_of_plan(ledger, floor_seconds(now))
            self._release(ledger, None)
            self._close_minutes(ledger, now + dt.timedelta(minutes=1))
            if include_partial_window:
                self._close_window(ledger)
            ledger.window.clear()
            ledger.closed = True

    def _advance(self, ledger: _CameraLedger, now: dt.datetime) -> None:
        if ledger.closed:
            return
        if ledger.clock is not None and now <= ledger.clock:
            return
        if ledger.started is None:
            ledger.started = now
            ledger.released = floor_seconds(now)
            ledger.window_start = _floor(now, self.privacy.demographics_window_minutes)
        ledger.clock = now
        self._draw_plans(ledger, now)
        assert ledger.released is not None and ledger.window_start is not None
        self._release(ledger, max(ledger.released, floor_seconds(now) - self.release_hold))
        window = dt.timedelta(minutes=self.privacy.demographics_window_minutes)
        if now >= ledger.window_start + window:
            self._close_window(ledger)
            ledger.window.clear()
            ledger.window_start = _floor(now, self.privacy.demographics_window_minutes)
        self._close_minutes(ledger, _floor(ledger.released, 1))  # a minute's heartbeat leaves with its rows

    # -- release by time slices ----------------------------------------------------------------------

    def _release(self, ledger: _CameraLedger, cutoff: dt.datetime | None) -> None:
        """Hand the writer every row timed before ``cutoff`` (None: every row), fictitious and real in one batch."""
        rows = []
        for plan in ledger.plans:
            while not plan.done and (cutoff is None or plan.times[plan.next_index] < cutoff):
                index = plan.next_index
                plan.next_index += 1
                when = plan.times[index]
                rows.append(self._occurrence_row(ledger.camera.id, when, plan.groups[index], plan.directions[index]))
                ledger.minute(when).fictitious_emitted += 1
        ledger.plans = [plan for plan in ledger.plans if not plan.done]
        fictitious = len(rows)
        while ledger.held and (cutoff is None or ledger.held[0][0] < cutoff):
            rows.append(heapq.heappop(ledger.held)[2])
        if cutoff is not None:
            ledger.released = cutoff
        if rows:
            self.writer.add(Stream.OCCURRENCES, rows)
            self.metrics.occurrences.labels("fictitious").inc(fictitious)
            self.metrics.occurrences.labels("real").inc(len(rows) - fictitious)

    def _drop_late(self, ledger: _CameraLedger, when: dt.datetime) -> None:
        """A pass whose slice has left would stand out in a later segment: drop it, loudly but without its data."""
        self.metrics.late_passes_dropped.inc()
        late = (ledger.released - when).total_seconds() if ledger.released is not None else 0.0
        log.warning(
            "a pass reached the emitter %.0f s after its time slice was released: dropped "
            "(raise sensor.emission.release_hold_seconds if this repeats)",
            late,
            extra={"camera_id": ledger.camera.id},
        )

    # -- fictitious persons --------------------------------------------------------------------------

    def plan_for_hour(self, camera: Camera, hour: dt.datetime) -> float:
        """Expected fictitious persons per group in this camera-hour (fixed by expected traffic alone)."""
        local_hour = hour.astimezone(self.timezone).hour
        return plan_per_group(camera.expected_passes(local_hour), self.privacy.fictitious.min_members)

    def _draw_plans(self, ledger: _CameraLedger, now: dt.datetime) -> None:
        """Draw the plan of every hour the clock has entered; the first hour's over the part after the start."""
        assert ledger.started is not None
        if ledger.next_hour is None:
            first = _floor(ledger.started, 60)
            covered_from = int((floor_seconds(ledger.started) - first).total_seconds())
            ledger.plans.append(self._draw(ledger, first, covered_from))
            ledger.next_hour = first + HOUR
        while ledger.next_hour <= now:
            ledger.plans.append(self._draw(ledger, ledger.next_hour, 0))
            ledger.next_hour += HOUR

    def _draw(self, ledger: _CameraLedger, hour: dt.datetime, covered_from: int) -> _FictitiousHour:
        per_group = self.plan_for_hour(ledger.camera, hour)
        offsets, groups = draw_fictitious_hour(self._rng, per_group, self.privacy.groups, covered_from)
        times = [hour + dt.timedelta(seconds=int(s)) for s in offsets]
        directions = draw_directions(self._rng, ledger.directions, len(times))
        return _FictitiousHour(hour, times, [int(g) for g in groups], directions)

    def _retime_rest_of_plan(self, ledger: _CameraLedger, last: dt.datetime) -> None:
        """Move planned rows timed after ``last`` (the stop) into the part of their hour not yet released.

        Their hour's cells then still get the whole floor; the part already released cannot take rows any more
        (a row there would stand out in the last segment). Only ``close`` calls it, and then releases every row,
        so the plan's order need not be kept."""
        assert ledger.released is not None
        for plan in ledger.plans:
            rest = [i for i in range(plan.next_index, len(plan.times)) if plan.times[i] > last]
            if not rest:
                continue
            first = max(plan.hour, ledger.released)
            offsets = retime_offsets(
                self._rng, len(rest), int((first - plan.hour).total_seconds()), int((last - plan.hour).total_seconds())
            )
            for index, offset in zip(rest, offsets, strict=True):
                plan.times[index] = plan.hour + dt.timedelta(seconds=int(offset))

    # -- demographics and heartbeats -----------------------------------------------------------------

    def _close_window(self, ledger: _CameraLedger) -> None:
        if ledger.window_start is None:
            return
        released = apply_small_cell_policy(ledger.window, self.privacy.small_cells, self.privacy.min_cell_size)
        rows = [
            {
                "camera_id": ledger.camera.id,
                "window_start": ledger.window_start,
                "window_minutes": self.privacy.demographics_window_minutes,
                "age_band": age_band,
                "gender": gender,
                "count": count,
            }
            for (age_band, gender), count in sorted(released.items())
        ]
        self.writer.add(Stream.DEMOGRAPHICS, rows)

    def _close_minutes(self, ledger: _CameraLedger, before: dt.datetime) -> None:
        """Write a heartbeat for every minute that starts before ``before`` and was covered by the camera."""
        assert ledger.started is not None
        counts = ledger.counters.take_until(before)
        minutes = sorted(m for m in set(ledger.minutes) | set(counts) if m < before and m >= _floor(ledger.started, 1))
        rows = []
        for minute in minutes:
            stats = ledger.minutes.pop(minute, _MinuteStats())
            read = counts.get(minute, {})
            rows.append(
                {
                    "camera_id": ledger.camera.id,
                    "minute_start": minute,
                    "frames_read": read.get("frames_read", 0),
                    "frames_processed": stats.frames_processed,
                    "frames_dropped": read.get("frames_dropped", 0),
                    "frames_corrupt": read.get("frames_corrupt", 0),
                    "persons_detected": stats.persons_detected,
                    "occurrences_emitted": stats.occurrences_emitted,
                    "fictitious_emitted": stats.fictitious_emitted,
                    "fictitious_plan_per_group": self.plan_for_hour(ledger.camera, _floor(minute, 60)),
                    "stream_status": self.stream_status(ledger.camera.id),
                    "latency_p50_ms": percentile(stats.latencies_ms, 50),
                    "latency_p99_ms": percentile(stats.latencies_ms, 99),
                    "lsh_key_epoch": self.key_epoch(minute),
                }
            )
        self.writer.add(Stream.HEARTBEATS, rows)

    @staticmethod
    def _occurrence_row(camera_id: str, observed_at: dt.datetime, group_id: int, direction: str) -> dict[str, Any]:
        return {
            "camera_id": camera_id,
            "observed_at": floor_seconds(observed_at),
            "group_id": group_id,
            "direction": direction,
        }
