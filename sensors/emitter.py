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
  stops in gets the whole floor too. A planned row due in a minute whose heartbeat says the stream was not
  'ok' would be certainly fictitious (no real pass is seen then): it is re-timed uniformly into its hour after
  its minute and the release cutoff, again while it lands in such a minute, so the hour keeps its count and
  groups. Rows in the hour's last minute, or due at a close, leave whatever the status (the residual).
  Directions come from the camera's mix fixed in advance.
* Demographics: counted per camera and window, and released only when the window has ended, after the
  small-cell policy; nothing links a count to an occurrence's time.
* Heartbeats: one row for every minute the camera's clock passes, with what camera health needs per minute
  (frames read and corrupt, stream status, the fictitious plan of that hour, the LSH key epoch). The fields
  that follow the persons in view (frames processed and dropped, persons detected, real and fictitious
  occurrences emitted, the frame-to-deletion latency p50/p99) are totals of the camera-hour, carried only by
  the hour's closing row: its last minute, or the last minute covered when the camera closes. Per minute
  they would show which minutes held real persons, and so which occurrence rows are real (fictitious ones
  are spread evenly over the hour); the analytics only ever use them per camera-hour. Occurrences count in
  the minute of their time, when they are released. A minute's heartbeat leaves with that minute's
  occurrences, so a heartbeat still means every occurrence before its minute's end has left (the landing
  zone's watermark).
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging
import threading
from array import array
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
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
# A minute's heartbeat reports the least healthy status seen in it (a minute that was down for a moment says down).
_STATUS_SEVERITY = {"ok": 0, "stopped": 1, "reconnecting": 2, "down": 3}


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


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if len(values) else None


def floor_seconds(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC).replace(microsecond=0)


def _floor(when: dt.datetime, minutes: int) -> dt.datetime:
    when = when.astimezone(dt.UTC)
    return when.replace(minute=when.minute - when.minute % minutes, second=0, microsecond=0)


@dataclass
class _MinuteStats:
    """What the pipeline reported in one minute; never written as such, only added to the hour's totals."""

    frames_processed: int = 0
    persons_detected: int = 0
    occurrences_emitted: int = 0
    fictitious_emitted: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    stream_status: str | None = None  # the least healthy status seen while the camera's clock was in the minute


@dataclass
class _HourTotals:
    """The person-following heartbeat fields of one camera-hour, written once, on the hour's closing row."""

    frames_processed: int = 0
    frames_dropped: int = 0
    persons_detected: int = 0
    occurrences_emitted: int = 0
    fictitious_emitted: int = 0
    latencies_ms: array[float] = field(default_factory=lambda: array("d"))  # every frame of the hour, compactly

    def add(self, minute: _MinuteStats, frames_dropped: int) -> None:
        self.frames_processed += minute.frames_processed
        self.frames_dropped += frames_dropped
        self.persons_detected += minute.persons_detected
        self.occurrences_emitted += minute.occurrences_emitted
        self.fictitious_emitted += minute.fictitious_emitted
        self.latencies_ms.extend(minute.latencies_ms)


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
        self.next_minute: dt.datetime | None = None  # the first minute without a heartbeat yet
        self.hour = _HourTotals()  # of the hour of ``next_minute``
        self.window: dict[Cell, int] = Counter()
        self.window_start: dt.datetime | None = None
        self.late_warned_hour: dt.datetime | None = None  # the camera-hour whose late passes were logged
        self.closed = False

    def minute(self, when: dt.datetime) -> _MinuteStats:
        """The stats of ``when``'s minute; a minute whose heartbeat is written already counts in the next one."""
        minute = _floor(when, 1)
        if self.next_minute is not None and minute < self.next_minute:
            minute = self.next_minute
        return self.minutes.setdefault(minute, _MinuteStats())


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
            self._close_minutes(ledger, _floor(now, 1) + dt.timedelta(minutes=1), final=True)
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
        self._note_stream_status(ledger, now)
        self._draw_plans(ledger, now)
        assert ledger.released is not None and ledger.window_start is not None
        self._release(ledger, max(ledger.released, floor_seconds(now) - self.release_hold))
        window = dt.timedelta(minutes=self.privacy.demographics_window_minutes)
        if now >= ledger.window_start + window:
            self._close_window(ledger)
            ledger.window.clear()
            ledger.window_start = _floor(now, self.privacy.demographics_window_minutes)
        self._close_minutes(ledger, _floor(ledger.released, 1))  # a minute's heartbeat leaves with its rows

    def _note_stream_status(self, ledger: _CameraLedger, now: dt.datetime) -> None:
        """Remember the stream's status for ``now``'s minute: its heartbeat leaves a hold later, when it may differ."""
        stats = ledger.minute(now)
        status = self.stream_status(ledger.camera.id)
        if stats.stream_status is None or _STATUS_SEVERITY[status] > _STATUS_SEVERITY[stats.stream_status]:
            stats.stream_status = status

    # -- release by time slices ----------------------------------------------------------------------

    def _release(self, ledger: _CameraLedger, cutoff: dt.datetime | None) -> None:
        """Hand the writer every row timed before ``cutoff`` (None: every row), fictitious and real in one batch.

        A fictitious row due in a minute whose heartbeat says the stream was not 'ok' would be certainly fictitious
        (no real pass can be seen then): it is re-timed instead, uniformly into its hour after both the cutoff and
        its minute, where the stream may be up; if not, it is re-timed again when due. Only a row in its hour's last
        minute, or due at a close (``cutoff`` None), leaves whatever its minute's status: the residual. Re-timed rows
        keep their group, direction and hour, so each hour's count and groups stay the plan's."""
        rows = []
        for plan in ledger.plans:
            first_pending = plan.next_index
            deferred = []
            while not plan.done and (cutoff is None or plan.times[plan.next_index] < cutoff):
                index = plan.next_index
                plan.next_index += 1
                when = plan.times[index]
                if cutoff is not None and self._reported_status(ledger, ledger.minute(when)) != "ok":
                    later = max(cutoff, _floor(when, 1) + dt.timedelta(minutes=1))
                    if later < plan.hour + HOUR:
                        plan.times[index] = self._retime(plan.hour, later)
                        deferred.append(index)
                        continue
                rows.append(self._occurrence_row(ledger.camera.id, when, plan.groups[index], plan.directions[index]))
                ledger.minute(when).fictitious_emitted += 1
            if deferred:
                self._defer(plan, deferred, first_pending)
        ledger.plans = [plan for plan in ledger.plans if not plan.done]
        fictitious = len(rows)
        while ledger.held and (cutoff is None or ledger.held[0][0] < cutoff):
            when, _, row = heapq.heappop(ledger.held)
            rows.append(row)
            ledger.minute(when).occurrences_emitted += 1
        if cutoff is not None:
            ledger.released = cutoff
        if rows:
            self.writer.add(Stream.OCCURRENCES, rows)
            self.metrics.occurrences.labels("fictitious").inc(fictitious)
            self.metrics.occurrences.labels("real").inc(len(rows) - fictitious)

    def _drop_late(self, ledger: _CameraLedger, when: dt.datetime) -> None:
        """A pass whose slice has left would stand out in a later segment: drop it and count it.

        The log says so at most once per camera-hour and without the pass's time: a line per pass would time
        each real person at the camera, which the rows (mixed with fictitious ones) must not."""
        self.metrics.late_passes_dropped.inc()
        hour = _floor(ledger.clock or when, 60)
        if ledger.late_warned_hour == hour:
            return
        ledger.late_warned_hour = hour
        log.warning(
            "passes reach the emitter after their time slice was released and are dropped (counted in "
            "individ_sensor_late_passes_dropped_total): raise sensor.emission.release_hold_seconds",
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

    def _reported_status(self, ledger: _CameraLedger, stats: _MinuteStats) -> str:
        """The status a minute's heartbeat reports: the least healthy noted in it, else the current one."""
        return stats.stream_status or self.stream_status(ledger.camera.id)

    def _retime(self, hour: dt.datetime, later: dt.datetime) -> dt.datetime:
        """A time drawn uniformly from ``later`` to the end of ``hour``."""
        (offset,) = retime_offsets(self._rng, 1, int((later - hour).total_seconds()), 3599)
        return hour + dt.timedelta(seconds=int(offset))

    @staticmethod
    def _defer(plan: _FictitiousHour, deferred: list[int], first_pending: int) -> None:
        """Put the re-timed rows ``deferred`` back among the plan's pending rows, in time order.

        The rows released in this pass are timed before the cutoff and every pending one (re-timed ones too) at or
        after it, so sorting everything from ``first_pending`` by time puts the released ones first again."""
        pending = sorted(
            zip(plan.times[first_pending:], plan.groups[first_pending:], plan.directions[first_pending:], strict=True),
            key=lambda row: row[0],
        )
        plan.times[first_pending:] = [row[0] for row in pending]
        plan.groups[first_pending:] = [row[1] for row in pending]
        plan.directions[first_pending:] = [row[2] for row in pending]
        plan.next_index -= len(deferred)

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

    def _close_minutes(self, ledger: _CameraLedger, before: dt.datetime, final: bool = False) -> None:
        """Write a heartbeat for every minute from the first one not written yet up to ``before``.

        Each row carries its minute's frames read and corrupt, stream status, plan and key epoch. The
        person-following fields add up into the hour's totals, which only the hour's closing row carries
        (its last minute, or with ``final`` the camera's last minute); every other row has 0 and no latency.
        """
        assert ledger.started is not None
        first = ledger.next_minute or _floor(ledger.started, 1)
        if first >= before:
            return
        reader_counts = self._reader_counts(ledger, first, before, final)
        rows = []
        minute = first
        while minute < before:
            read = reader_counts.get(minute, Counter())
            stats = ledger.minutes.pop(minute, _MinuteStats())
            ledger.hour.add(stats, read["frames_dropped"])
            closing = minute.minute == 59 or (final and minute + dt.timedelta(minutes=1) == before)
            status = self._reported_status(ledger, stats)
            rows.append(self._heartbeat_row(ledger, minute, read, status, ledger.hour if closing else _HourTotals()))
            if closing:
                ledger.hour = _HourTotals()
            minute += dt.timedelta(minutes=1)
        ledger.next_minute = before
        self.writer.add(Stream.HEARTBEATS, rows)

    @staticmethod
    def _reader_counts(
        ledger: _CameraLedger, first: dt.datetime, before: dt.datetime, final: bool
    ) -> dict[dt.datetime, Counter[str]]:
        """The reader's counts of the minutes ``first`` up to ``before``. Counts of a minute already written (a
        frame decoded just before its minute closed) go into the first of them, and when ``final`` counts of
        minutes after the last into the last: each frame is counted once, and no minute gets two rows."""
        last = before - dt.timedelta(minutes=1)
        taken = ledger.counters.take_until(dt.datetime.max.replace(tzinfo=dt.UTC) if final else before)
        counts: dict[dt.datetime, Counter[str]] = {}
        for minute, read in taken.items():
            counts.setdefault(min(max(minute, first), last), Counter()).update(read)
        return counts

    def _heartbeat_row(
        self, ledger: _CameraLedger, minute: dt.datetime, read: Counter[str], status: str, hour: _HourTotals
    ) -> dict[str, Any]:
        return {
            "camera_id": ledger.camera.id,
            "minute_start": minute,
            "frames_read": read["frames_read"],
            "frames_processed": hour.frames_processed,
            "frames_dropped": hour.frames_dropped,
            "frames_corrupt": read["frames_corrupt"],
            "persons_detected": hour.persons_detected,
            "occurrences_emitted": hour.occurrences_emitted,
            "fictitious_emitted": hour.fictitious_emitted,
            "fictitious_plan_per_group": self.plan_for_hour(ledger.camera, _floor(minute, 60)),
            "stream_status": status,
            "latency_p50_ms": percentile(hour.latencies_ms, 50),
            "latency_p99_ms": percentile(hour.latencies_ms, 99),
            "lsh_key_epoch": self.key_epoch(minute),
        }

    @staticmethod
    def _occurrence_row(camera_id: str, observed_at: dt.datetime, group_id: int, direction: str) -> dict[str, Any]:
        return {
            "camera_id": camera_id,
            "observed_at": floor_seconds(observed_at),
            "group_id": group_id,
            "direction": direction,
        }
