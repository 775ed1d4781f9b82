"""Camera sources: frame-rate cap, file timestamps, corrupt frames, reconnect with back-off, redaction."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import logging
import queue
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from sensors.logs import JsonFormatter, redact
from sensors.settings import ReconnectSettings
from sensors.sources import (
    CameraReader,
    Frame,
    FrameCounters,
    SourceKind,
    SourceStatus,
    backoff_delay,
    source_kind,
)

from .conftest import START, write_clip

FAST_RECONNECT = ReconnectSettings(initial_seconds=0.05, max_seconds=0.2, jitter=0.0, max_consecutive_failures=3)


def read_all(
    source: str | Path,
    kind: SourceKind,
    fps_cap: float = 10.0,
    reconnect: ReconnectSettings = FAST_RECONNECT,
    until: float = 10.0,
    stop_after_frames: int | None = None,
) -> tuple[list[Frame], dict[str, int], CameraReader]:
    """Run a reader to its end (or ``until`` seconds / ``stop_after_frames``); return frames and total counts."""
    frames: queue.Queue[Frame | None] = queue.Queue(maxsize=1000)
    counters = FrameCounters()
    stop = threading.Event()
    reader = CameraReader("cam-a", str(source), kind, fps_cap, frames, counters, reconnect, stop, START)
    reader.start()
    received: list[Frame] = []
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        try:
            item = frames.get(timeout=0.05)
        except queue.Empty:
            continue
        frames.task_done()
        if item is None:
            break
        received.append(item)
        if stop_after_frames is not None and len(received) >= stop_after_frames:
            break
    stop.set()
    reader.join(timeout=5)
    assert not reader.is_alive()
    totals: dict[str, int] = {}
    for counts in counters.take_until(dt.datetime.max.replace(tzinfo=dt.UTC)).values():
        for name, value in counts.items():
            totals[name] = totals.get(name, 0) + value
    return received, totals, reader


def test_a_file_is_read_to_its_end_with_timestamps_from_the_file(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=30, fps=10)
    frames, totals, reader = read_all(clip, SourceKind.FILE)
    assert len(frames) == 30
    assert [f.captured_at for f in frames[:3]] == [START + dt.timedelta(seconds=s) for s in (0.0, 0.1, 0.2)]
    assert totals == {"frames_read": 30}
    assert reader.status is SourceStatus.STOPPED


def test_the_frame_rate_cap_keeps_every_other_frame_of_a_10_fps_file(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=30, fps=10)
    frames, totals, _ = read_all(clip, SourceKind.FILE, fps_cap=5)
    assert len(frames) == 15
    gaps = {round((b.captured_at - a.captured_at).total_seconds(), 3) for a, b in itertools.pairwise(frames)}
    assert gaps == {0.2}
    assert totals == {"frames_read": 30, "frames_dropped": 15}


def test_corrupt_frames_in_a_video_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (160, 120))
    rng = np.random.default_rng(1)
    for _ in range(20):
        writer.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    writer.release()
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    for k in (5, 6, 7):  # wipe the start of three JPEG frames
        data[starts[k] : starts[k] + 400] = bytes(400)
    path.write_bytes(bytes(data))
    frames, totals, _ = read_all(path, SourceKind.FILE, reconnect=ReconnectSettings(max_consecutive_failures=10))
    assert len(frames) == 17
    assert totals["frames_corrupt"] == 3


def test_corrupt_images_in_a_folder_are_skipped_and_counted(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(4):
        cv2.imwrite(str(folder / f"{index:03d}.png"), np.full((60, 80, 3), 40 * index, np.uint8))
    (folder / "001b.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "002b.png").write_bytes(b"")
    assert source_kind(str(folder), tmp_path) is SourceKind.IMAGE_FOLDER
    frames, totals, _ = read_all(folder, SourceKind.IMAGE_FOLDER, fps_cap=60)
    assert len(frames) == 4
    assert totals == {"frames_read": 4, "frames_corrupt": 2}


def test_a_file_that_appears_later_is_picked_up_after_back_off(tmp_path: Path) -> None:
    clip = tmp_path / "late.mp4"
    write_clip(tmp_path / "staging.mp4", frames=10)
    threading.Timer(0.4, lambda: (tmp_path / "staging.mp4").rename(clip)).start()
    frames, _, reader = read_all(clip, SourceKind.FILE)
    assert len(frames) == 10
    assert reader.reconnects >= 2  # it kept trying while the file was absent


class FlakyMjpegCamera(BaseHTTPRequestHandler):
    """An HTTP MJPEG camera: each connection streams 10 frames then drops; the 2nd connection is refused."""

    connections = 0

    def do_GET(self) -> None:
        type(self).connections += 1
        if type(self).connections == 2:
            self.send_error(503, "camera rebooting")
            return
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        for index in range(10):
            _, jpeg = cv2.imencode(".jpg", np.full((120, 160, 3), 20 * index, np.uint8))
            header = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
            self.wfile.write(header + jpeg.tobytes() + b"\r\n")
            self.wfile.flush()
            time.sleep(0.01)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_network_stream_that_drops_and_comes_back_is_reopened_with_back_off() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyMjpegCamera)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/stream.mjpg"
    assert source_kind(url, Path(".")) is SourceKind.STREAM
    try:
        frames, totals, reader = read_all(url, SourceKind.STREAM, fps_cap=60, stop_after_frames=20)
    finally:
        server.shutdown()
        server.server_close()
    assert len(frames) == 20  # 10 before the drop, 10 after the refused attempt and the reconnect
    assert FlakyMjpegCamera.connections >= 3
    assert reader.reconnects >= 2
    assert totals["frames_read"] >= 20
    assert all(f.captured_at.tzinfo is dt.UTC for f in frames)  # live sources: the clock at decode


def test_a_source_that_never_opens_backs_off_and_reports_down(tmp_path: Path) -> None:
    reconnect = ReconnectSettings(initial_seconds=0.02, max_seconds=0.08, jitter=0.0)
    frames, _, reader = read_all(tmp_path / "never.mp4", SourceKind.FILE, reconnect=reconnect, until=0.6)
    assert frames == []
    assert reader.reconnects >= 4


def test_the_status_is_down_once_back_off_reached_its_cap(tmp_path: Path) -> None:
    frames: queue.Queue[Frame | None] = queue.Queue()
    stop = threading.Event()
    reconnect = ReconnectSettings(initial_seconds=0.02, max_seconds=0.05, jitter=0.0)
    reader = CameraReader(
        "cam-a", str(tmp_path / "x.mp4"), SourceKind.FILE, 10, frames, FrameCounters(), reconnect, stop, START
    )
    reader.start()
    time.sleep(0.3)
    assert reader.status is SourceStatus.DOWN
    stop.set()
    reader.join(timeout=5)
    assert reader.status is SourceStatus.STOPPED


def test_backoff_grows_exponentially_is_capped_and_jittered_downwards() -> None:
    settings = ReconnectSettings(initial_seconds=1, max_seconds=30, multiplier=2, jitter=0.25)
    rng = random.Random(7)
    for attempt in range(12):
        nominal = min(30.0, 2.0**attempt)
        delays = [backoff_delay(attempt, settings, rng) for _ in range(50)]
        assert all(0.75 * nominal <= d <= nominal for d in delays)
        assert len(set(delays)) > 1  # jitter spreads reconnects of many cameras
    assert backoff_delay(50, settings, rng) <= 30


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://admin:hunter2@10.0.0.5:554/stream1",
        "http://cam.local/video.mjpg?user=admin&password=hunter2",
        "rtsps://viewer:hunter2@cam.example.com/live?token=hunter2",
    ],
)
def test_credentials_never_reach_a_log_line(url: str) -> None:
    assert "hunter2" not in redact(f"cannot open {url}")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("sensors.sources")
    logger.addHandler(handler)
    try:
        reconnect = ReconnectSettings(initial_seconds=0.05, max_seconds=0.05, jitter=0.0)
        # Port 9 on localhost refuses at once: the open fails and is logged with the source.
        read_all(url.replace("10.0.0.5:554", "127.0.0.1:9"), SourceKind.STREAM, reconnect=reconnect, until=0.5)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "cannot open camera source" in text
    assert "hunter2" not in text
