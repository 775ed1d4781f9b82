"""Camera sources: RTSP/HTTP streams, video files and image folders read through OpenCV.

One reader thread per camera decodes frames, applies the camera's frame-rate cap and hands frames to
the camera's processor through a small queue. A stream that never opens or drops is reopened with
capped exponential back-off and jitter; a frame that fails to decode is skipped and counted. Frames
carry the stream's own time where it has one (position in a video file, added to a configured start)
and the clock at decode otherwise. Source strings are redacted before they reach any log line.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from sensors.logs import redact
from sensors.settings import ReconnectSettings

log = logging.getLogger(__name__)

# FFmpeg and OpenCV print to stderr on their own, outside our redacting logs, and may quote a source;
# our own log lines say everything needed.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_RATE_TOLERANCE_S = 0.002  # a 10 fps file under a 5 fps cap keeps exactly every other frame


class SourceKind(StrEnum):
    STREAM = "stream"
    FILE = "file"
    IMAGE_FOLDER = "image_folder"


class SourceStatus(StrEnum):
    """Values of the heartbeat's ``stream_status``."""

    OK = "ok"
    RECONNECTING = "reconnecting"
    DOWN = "down"  # still failing after the back-off reached its cap
    STOPPED = "stopped"  # a file or folder ended, or the service is stopping


@dataclass
class Frame:
    """One decoded frame, in memory only for its own processing."""

    camera_id: str
    image: np.ndarray  # BGR, uint8
    captured_at: dt.datetime  # UTC
    received: float  # time.monotonic() when decoding finished: the start of the deletion latency


class FrameCounters:
    """Per-camera reader counters, keyed by the minute (UTC) they happened in; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_minute: dict[dt.datetime, dict[str, int]] = {}

    def add(self, when: dt.datetime, name: str, amount: int = 1) -> None:
        minute = when.replace(second=0, microsecond=0)
        with self._lock:
            counts = self._by_minute.setdefault(minute, {})
            counts[name] = counts.get(name, 0) + amount

    def take_until(self, end: dt.datetime) -> dict[dt.datetime, dict[str, int]]:
        """Remove and return the counts of every minute that starts before ``end``."""
        with self._lock:
            done = {minute: counts for minute, counts in self._by_minute.items() if minute < end}
            for minute in done:
                del self._by_minute[minute]
        return done


def source_kind(source: str, base_dir: Path) -> SourceKind:
    if source.lower().startswith(STREAM_SCHEMES):
        return SourceKind.STREAM
    path = resolve_source_path(source, base_dir)
    return SourceKind.IMAGE_FOLDER if path.is_dir() else SourceKind.FILE


def resolve_source_path(source: str, base_dir: Path) -> Path:
    """A file or folder source, relative to the site configuration's folder unless absolute."""
    path = Path(source).expanduser()
    return path if path.is_absolute() else (base_dir / path).resolve()


def backoff_delay(attempt: int, settings: ReconnectSettings, rng: random.Random) -> float:
    """Seconds to wait before reopening after ``attempt`` consecutive failures (0-based), capped, jittered.

    Jitter only shortens the delay, so the cap holds and many cameras behind one dead switch spread out.
    """
    delay = min(settings.max_seconds, settings.initial_seconds * settings.multiplier**attempt)
    return delay * (1.0 - settings.jitter * rng.random())


class FrameRateCap:
    """Keeps at most ``fps`` frames per second of frame time."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self._last: float | None = None

    def admit(self, t_seconds: float) -> bool:
        if self._last is not None and t_seconds - self._last < self.period - _RATE_TOLERANCE_S:
            return False
        self._last = t_seconds
        return True


class _SourceEnded(Exception):
    """A file or folder has no more frames."""


class CameraReader(threading.Thread):
    """Reads one camera until it ends (files, folders) or the service stops (streams run forever)."""

    def __init__(
        self,
        camera_id: str,
        source: str,
        kind: SourceKind,
        fps_cap: float,
        frames: queue.Queue[Frame | None],
        counters: FrameCounters,
        reconnect: ReconnectSettings,
        stop: threading.Event,
        file_start: dt.datetime,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        super().__init__(name=f"reader-{camera_id}", daemon=True)
        self.camera_id = camera_id
        self.source = source
        self.kind = kind
        self.frames = frames
        self.counters = counters
        self.reconnect = reconnect
        self.stop = stop
        self.file_start = file_start
        self.clock = clock
        self.fps_cap = fps_cap
        self.status = SourceStatus.RECONNECTING
        self.reconnects = 0
        self.corrupt_total = 0
        self._rng = random.Random()
        self._log_extra = {"camera_id": camera_id, "source": redact(source)}

    # -- the thread --------------------------------------------------------------------------------

    def run(self) -> None:
        attempt = 0
        try:
            while not self.stop.is_set():
                try:
                    produced = self._read_once()
                except _SourceEnded:
                    log.info("source ended", extra=self._log_extra)
                    return
                if self.stop.is_set():
                    return
                attempt = 0 if produced else attempt + 1
                delay = backoff_delay(attempt, self.reconnect, self._rng)
                self.status = (
                    SourceStatus.DOWN
                    if self.reconnect.initial_seconds * self.reconnect.multiplier**attempt >= self.reconnect.max_seconds
                    else SourceStatus.RECONNECTING
                )
                self.reconnects += 1
                log.warning(
                    "camera unavailable, reopening in %.1f s (attempt %d)",
                    delay,
                    attempt + 1,
                    extra={**self._log_extra, "status": self.status.value},
                )
                self.stop.wait(delay)
        finally:
            self.status = SourceStatus.STOPPED
            self._put(None)  # tells the processor this camera is done

    def _read_once(self) -> bool:
        """Open the source and read until it fails; return True if it produced any frame."""
        if self.kind is SourceKind.IMAGE_FOLDER:
            return self._read_folder()
        capture = self._open_capture()
        if capture is None:
            return False
        try:
            return self._read_capture(capture)
        finally:
            capture.release()

    # -- video files and streams -------------------------------------------------------------------

    def _open_capture(self) -> cv2.VideoCapture | None:
        if self.kind is SourceKind.FILE and not Path(self.source).is_file():
            log.warning("video file not found", extra=self._log_extra)
            return None
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10_000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10_000]
        capture = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, params)
        if not capture.isOpened():
            capture.release()
            log.warning("cannot open camera source", extra=self._log_extra)
            return None
        log.info("camera source opened", extra=self._log_extra)
        return capture

    def _read_capture(self, capture: cv2.VideoCapture) -> bool:
        is_file = self.kind is SourceKind.FILE
        native_fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        frame_count = capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0
        cap = FrameRateCap(self.fps_cap)
        failures = 0
        produced = False
        index = -1
        last_position = -1.0
        while not self.stop.is_set():
            if is_file:
                self._wait_until_processed()
            if not capture.grab():
                # A failed grab is a corrupt frame if frames follow it, the end (file) or a drop (stream) if not.
                position = capture.get(cv2.CAP_PROP_POS_FRAMES)
                if is_file and frame_count > 0 and position >= frame_count - 1:
                    raise _SourceEnded
                failures += 1
                if failures >= self.reconnect.max_consecutive_failures:
                    if is_file:
                        raise _SourceEnded
                    log.warning("stream dropped", extra=self._log_extra)
                    return produced
                continue
            if failures:
                when = self._clock_now_for_file(last_position) if is_file else self.clock()
                self._count_corrupt(when, failures)
                failures = 0
            index += 1
            if is_file:
                position = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if position <= last_position and native_fps > 0:
                    position = index / native_fps  # containers without usable timestamps
                last_position = position
                captured_at = self.file_start + dt.timedelta(seconds=position)
                frame_time = position
            else:
                captured_at = self.clock()
                frame_time = time.monotonic()
            if not cap.admit(frame_time):
                self.counters.add(captured_at, "frames_read")
                self.counters.add(captured_at, "frames_dropped")
                continue
            ok, image = capture.retrieve()
            if not ok or image is None or image.size == 0 or image.ndim != 3:
                self._count_corrupt(captured_at)
                continue
            produced = True
            self.status = SourceStatus.OK
            self.counters.add(captured_at, "frames_read")
            self._deliver(Frame(self.camera_id, image, captured_at, time.monotonic()), live=not is_file)
        return produced

    def _clock_now_for_file(self, last_position: float) -> dt.datetime:
        return self.file_start + dt.timedelta(seconds=max(0.0, last_position))

    # -- image folders -------------------------------------------------------------------------------

    def _read_folder(self) -> bool:
        """Read the folder's images in name order at the frame-rate cap, stamped with the clock at decode."""
        folder = Path(self.source)
        if not folder.is_dir():
            log.warning("image folder not found", extra=self._log_extra)
            return False
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        self.status = SourceStatus.OK
        log.info("image folder opened with %d images", len(paths), extra=self._log_extra)
        next_due = time.monotonic()
        for path in paths:
            if self.stop.wait(max(0.0, next_due - time.monotonic())):
                return True
            self._wait_until_processed()
            next_due = time.monotonic() + 1.0 / self.fps_cap
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            captured_at = self.clock()
            if image is None or image.size == 0:
                self._count_corrupt(captured_at)
                continue
            self.counters.add(captured_at, "frames_read")
            self._deliver(Frame(self.camera_id, image, captured_at, time.monotonic()), live=False)
        raise _SourceEnded

    # -- hand-over -----------------------------------------------------------------------------------

    def _count_corrupt(self, when: dt.datetime, count: int = 1) -> None:
        previous = self.corrupt_total
        self.corrupt_total += count
        self.counters.add(when, "frames_corrupt", count)
        if previous == 0 or previous // 100 != self.corrupt_total // 100:
            log.warning("skipped corrupt frame (%d so far)", self.corrupt_total, extra=self._log_extra)

    def _wait_until_processed(self) -> None:
        """Files and folders are read on demand: decode the next frame only when the processor is idle, so
        no frame waits in memory (and the frame-to-deletion latency is the pipeline's, not a backlog's)."""
        with self.frames.all_tasks_done:
            while self.frames.unfinished_tasks and not self.stop.is_set():
                self.frames.all_tasks_done.wait(0.2)

    def _deliver(self, frame: Frame, live: bool) -> None:
        """Live streams never wait for a slow processor: the oldest waiting frame is dropped instead."""
        if not live:
            while not self.stop.is_set():
                try:
                    self.frames.put(frame, timeout=0.2)
                    return
                except queue.Full:
                    continue
            frame.image.fill(0)
            return
        while True:
            try:
                self.frames.put_nowait(frame)
                return
            except queue.Full:
                try:
                    dropped = self.frames.get_nowait()
                except queue.Empty:
                    continue
                if dropped is not None:
                    self.frames.task_done()
                    self.counters.add(dropped.captured_at, "frames_dropped")
                    dropped.image.fill(0)

    def _put(self, item: None) -> None:
        while True:
            try:
                self.frames.put(item, timeout=0.2)
                return
            except queue.Full:
                if self.stop.is_set():
                    # Stopping: make room for the end marker by discarding (and zeroing) the oldest frame.
                    with contextlib.suppress(queue.Empty):
                        discarded = self.frames.get_nowait()
                        self.frames.task_done()
                        if discarded is not None:
                            discarded.image.fill(0)
