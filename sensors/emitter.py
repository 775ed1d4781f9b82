"""From pipeline events to contract rows: occurrences, fictitious persons, demographic windows, heartbeats.

Time here is each camera's own clock (the time of its latest frame; the wall clock for live sources),
so a video file processed faster than real time still gets whole windows and minutes.

* Occurrences: timestamps floored to whole seconds; rows are shuffled when a segment is written.
* Fictitious persons: for each camera-hour a plan fixed in advance from the camera's expected traffic
  (``individ.fictitious``), drawn when the hour starts and emitted as their times pass, as ordinary
  occurrence rows. Times before the camera started are never emitted (and no heartbeat covers them).
* Demographics: counted per camera and window, and released only when the window has ended, after the
  small-cell policy; nothing links a count to an occurrence's time.
* Heartbeats: one row per camera-minute with the counters, the frame-to-deletion latency p50/p99, the
  fictitious plan (lambda per group) of that hour, the stream status and the LSH key epoch.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from individ.contract import Stream
from individ.fictitious import draw_fictitious_hour, plan_per_group
from individ.site_config import Camera, CameraRole, PrivacyParameters, SmallCellPolicy
from sensors.metrics import SensorMetrics
from sensors.sources import FrameCounters
from sensors.writer import BufferedWriter

Cell = tuple[str, str]  # (age_band, gender)
UNKNOWN_CELL: Cell = ("unknown", "unknown")


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
    hour: dt.datetime
    times: list[dt.datetime]
    groups: list[int]
    next_index: int = 0


class _CameraLedger:
    """Everything the emitter tracks for one camera between writes; guarded by the emitter's lock."""

    def __init__(self, camera: Camera, counters: FrameCounters) -> None:
        self.camera = camera
        self.counters = counters
        self.started: dt.datetime | None = None  # the camera's first clock value
        self.clock: dt.datetime | None = None
        self.minutes: dict[dt.datetime, _MinuteStats] = {}
        self.window: dict[Cell, int] = Counter()
        self.window_start: dt.datetime | None = None
        self.fictitious: _FictitiousHour | None = None
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
    ) -> None:
        self.privacy = privacy
        self.timezone = timezone
        self.writer = writer
        self.metrics = metrics
        self.stream_status = stream_status
        self.key_epoch = key_epoch
        self._rng = rng or np.random.default_rng()
        self._lock = threading.RLock()
        self._ledgers = {camera.id: _CameraLedger(camera, counters[camera.id]) for camera in cameras}

    # -- EventSink ---------------------------------------------------------------------------------

    def occurrence(self, camera_id: str, observed_at: dt.datetime, group_id: int, direction: str) -> None:
        with self._lock:
            ledger = self._ledgers[camera_id]
            self.writer.add(Stream.OCCURRENCES, [self._occurrence_row(camera_id, observed_at, group_id, direction)])
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
        """The camera is done: emit what is due up to its clock, its last partial minute and (optionally) window."""
        with self._lock:
            ledger = self._ledgers[camera_id]
            if ledger.closed or ledger.clock is None:
                ledger.closed = True
                return
            now = ledger.clock
            self._emit_fictitious(ledger, now, inclusive=True)
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
            ledger.window_start = _floor(now, self.privacy.demographics_window_minutes)
        ledger.clock = now
        self._emit_fictitious(ledger, now, inclusive=False)
        assert ledger.window_start is not None
        window = dt.timedelta(minutes=self.privacy.demographics_window_minutes)
        if now >= ledger.window_start + window:
            self._close_window(ledger)
            ledger.window.clear()
            ledger.window_start = _floor(now, self.privacy.demographics_window_minutes)
        self._close_minutes(ledger, _floor(now, 1))

    # -- fictitious persons --------------------------------------------------------------------------

    def plan_for_hour(self, camera: Camera, hour: dt.datetime) -> float:
        """Expected fictitious persons per group in this camera-hour (fixed by expected traffic alone)."""
        local_hour = hour.astimezone(self.timezone).hour
        return plan_per_group(camera.expected_passes(local_hour), self.privacy.fictitious.min_members)

    def _emit_fictitious(self, ledger: _CameraLedger, now: dt.datetime, inclusive: bool) -> None:
        """Emit every planned fictitious occurrence whose time has come, hour by hour."""
        assert ledger.started is not None
        while True:
            hour = _floor(now, 60)
            plan = ledger.fictitious
            if plan is None or plan.hour < hour:
                if plan is not None:
                    self._emit_planned(ledger, plan, plan.hour + dt.timedelta(hours=1), inclusive=False)
                ledger.fictitious = self._draw(ledger.camera, hour)
                continue
            self._emit_planned(ledger, plan, now, inclusive)
            return

    def _draw(self, camera: Camera, hour: dt.datetime) -> _FictitiousHour:
        per_group = self.plan_for_hour(camera, hour)
        offsets, groups = draw_fictitious_hour(self._rng, per_group, self.privacy.groups)
        times = [hour + dt.timedelta(seconds=int(s)) for s in offsets]
        return _FictitiousHour(hour, times, [int(g) for g in groups])

    def _emit_planned(self, ledger: _CameraLedger, plan: _FictitiousHour, until: dt.datetime, inclusive: bool) -> None:
        assert ledger.started is not None
        rows = []
        start = floor_seconds(ledger.started)
        while plan.next_index < len(plan.times):
            when = plan.times[plan.next_index]
            if when > until or (when == until and not inclusive):
                break
            plan.next_index += 1
            if when < start:
                continue  # the sensor was not watching then: no real person could have been seen either
            group = plan.groups[plan.next_index - 1]
            rows.append(self._occurrence_row(ledger.camera.id, when, group, self._fictitious_direction(ledger.camera)))
            ledger.minute(when).fictitious_emitted += 1
        if rows:
            self.writer.add(Stream.OCCURRENCES, rows)
            self.metrics.occurrences.labels(ledger.camera.id, "fictitious").inc(len(rows))

    def _fictitious_direction(self, camera: Camera) -> str:
        """The direction a real pass at this camera most likely has, so fictitious rows blend in."""
        if camera.counting_line is None:
            return "unknown"
        if camera.role in (CameraRole.ENTRANCE, CameraRole.STORE_DOOR_IN):
            return "in"
        if camera.role in (CameraRole.EXIT, CameraRole.STORE_DOOR_OUT):
            return "out"
        return "in" if self._rng.random() < 0.5 else "out"

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
