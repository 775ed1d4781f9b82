"""The whole service on a real clip with the shipped models: it ends with the clip, writes valid v1 files,
serves health and metrics, flushes on SIGTERM and keeps events when the landing zone fails."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from individ.contract import LandingZone, Stream
from sensors.service import SensorService, create_service
from sensors.settings import load_sensor_config

from .conftest import DEMO_CLIP, REPO, excerpt, requires_models, site_dict, write_site

pytestmark = requires_models

# One person of the demo clip: walks in from the bottom left at ~7 s, stands, leaves to the right at ~19 s.
ONE_PERSON = (5.5, 16.0)
# The demo site's tuning: the shipped detector loses persons standing with their back to the camera.
DEMO_TUNING = {"detector": {"confidence_threshold": 0.3}, "tracking": {"max_missing_seconds": 10}}
RIGHT_THIRD = {"start": {"x": 0.75, "y": 0.35}, "end": {"x": 0.75, "y": 1.0}}
CLI = (
    "import sys, individ.cli as c\n"
    "c.COMMAND_MODULES = tuple(dict.fromkeys((*c.COMMAND_MODULES, 'sensors.cli')))\n"
    "sys.exit(c.main(sys.argv[1:]))\n"
)


@pytest.fixture(scope="module")
def one_person_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return excerpt(DEMO_CLIP, tmp_path_factory.mktemp("clip") / "one-person.mp4", *ONE_PERSON)


def service_for(tmp_path: Path, clip: Path, landing: Path, **sensor: object) -> SensorService:
    settings = {"key_file": str(tmp_path / "site.key"), "emission": {"flush_interval_seconds": 1}, **DEMO_TUNING}
    settings.update(sensor)
    site = site_dict({"cam-a": str(clip)}, landing, sensor=settings, counting_line=RIGHT_THIRD, fps_cap=5)
    site["privacy"] = {"fictitious": {"min_members": 0}, "min_cell_size": 1}
    config = load_sensor_config(write_site(tmp_path / "site.yaml", site))
    return create_service(config, None)


def read_stream(landing: LandingZone, stream: Stream) -> list[dict]:
    return [row for segment in landing.segments(stream) for row in landing.read(segment).to_pylist()]


def test_a_clip_runs_to_its_end_and_yields_one_pass_with_its_direction(tmp_path: Path, one_person_clip: Path) -> None:
    service = service_for(tmp_path, one_person_clip, tmp_path / "landing", health={"port": 0})
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(service.run(max_seconds=120)))
    runner.start()
    health = metrics = None
    deadline = time.monotonic() + 60
    while runner.is_alive() and time.monotonic() < deadline and (health is None or metrics is None):
        if service._health is not None:
            host, port = service._health.address
            try:
                with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=2) as reply:
                    metrics = reply.read().decode()
                with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=2) as reply:
                    health = json.loads(reply.read())
            except (urllib.error.URLError, ConnectionError):
                pass
        time.sleep(0.1)
    runner.join(timeout=120)
    assert result == [0]
    assert health is not None and health["cameras"]["cam-a"]["status"] in ("ok", "stopped")
    assert health["landing_zone"]["writable"] is True
    assert metrics is not None and "individ_sensor_frames_processed_total" in metrics

    landing = LandingZone(tmp_path / "landing")
    occurrences = read_stream(landing, Stream.OCCURRENCES)
    assert len(occurrences) == 1, occurrences  # one person, one pass (no fictitious persons in this site)
    assert occurrences[0]["direction"] == "out"
    assert 0 <= occurrences[0]["group_id"] < 1000
    heartbeats = read_stream(landing, Stream.HEARTBEATS)
    assert sum(h["occurrences_emitted"] for h in heartbeats) == 1
    assert sum(h["frames_processed"] for h in heartbeats) >= 70  # 15.9 s at the 5 fps cap
    assert all(h["latency_p99_ms"] is not None for h in heartbeats if h["frames_processed"])
    demographics = read_stream(landing, Stream.DEMOGRAPHICS)  # partial window flushed at the end
    assert sum(d["count"] for d in demographics) == 1


def test_an_unwritable_landing_zone_is_reported_and_the_exit_code_says_so(
    tmp_path: Path, one_person_clip: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "landing"
    blocker.write_text("a file where the landing zone should be")
    service = service_for(
        tmp_path,
        one_person_clip,
        blocker / "zone",
        emission={"flush_interval_seconds": 1, "shutdown_write_timeout_seconds": 0},
    )
    assert service.run(max_seconds=120) == 1
    report = service.health()
    assert report["status"] == "failing" and report["landing_zone"]["writable"] is False
    assert report["landing_zone"]["buffered_rows"]["heartbeats"] > 0
    assert report["landing_zone"]["buffered_rows"]["occurrences"] == 1  # kept, not dropped
    assert "EXITING WITH UNWRITTEN ROWS" in caplog.text


def test_sigterm_flushes_every_open_segment_and_exits_cleanly(tmp_path: Path) -> None:
    landing = tmp_path / "data" / "landing"
    sensor = {"key_file": str(tmp_path / "site.key"), "emission": {"flush_interval_seconds": 3600}}
    site = write_site(tmp_path / "site.yaml", site_dict({"cam-a": str(DEMO_CLIP)}, landing, sensor=sensor))
    log_path = tmp_path / "sensor.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", CLI, "sensor", "run", "--config", str(site), "--data", str(tmp_path / "data")],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "sensor started" not in log_path.read_text():
                time.sleep(0.2)
            time.sleep(3)  # let it process a few seconds of video; nothing is written before the flush
            assert not any(LandingZone(landing).segments(stream) for stream in Stream)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    logged = log_path.read_text()
    assert process.returncode == 0, logged[-3000:]
    assert "stop requested" in logged
    zone = LandingZone(landing)
    heartbeats = read_stream(zone, Stream.HEARTBEATS)
    assert heartbeats and sum(h["frames_processed"] for h in heartbeats) > 10
