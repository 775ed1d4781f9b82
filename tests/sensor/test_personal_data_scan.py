"""The personal-data scan: run the sensor on a real clip and inspect every byte it left behind.

Only contract columns may appear in the landing zone; no file anywhere (landing zone, logs, the health
and metrics pages, the working, home and temporary folders) may hold image data, arrays, embedding-like
runs of floats or boxes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from individ.contract import AGE_BANDS, DIRECTIONS, GENDERS, SCHEMAS, STREAM_STATUSES, Stream

from .conftest import DEMO_CLIP, REPO, excerpt, requires_models, site_dict, write_site
from .test_service import CLI, DEMO_TUNING, RIGHT_THIRD

pytestmark = requires_models

IMAGE_MAGIC = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG": "PNG",
    b"\x93NUMPY": "numpy array",
    b"GIF8": "GIF",
    b"RIFF": "WebP/AVI",
    b"BM6": "BMP",
}
FLOAT = r"-?\d+\.\d+(?:[eE][-+]?\d+)?"
FLOAT_RUN = re.compile(rf"(?:{FLOAT}\s*[,; ]\s*){{7,}}{FLOAT}")  # 8+ floats in a row: a vector
BOX = re.compile(r"[\[(]\s*-?\d+(?:\.\d+)?(?:\s*,\s*-?\d+(?:\.\d+)?){3}\s*[\])]")  # (x1, y1, x2, y2)
LOG_KEYS = {
    "time", "level", "logger", "message", "camera_id", "source", "status", "stream", "landing_zone",
    "sensor_id", "site_id", "exception",
}  # fmt: skip
STRING_VALUES = {
    "direction": set(DIRECTIONS),
    "age_band": set(AGE_BANDS),
    "gender": set(GENDERS),
    "stream_status": set(STREAM_STATUSES),
    "camera_id": {"cam-a"},
    "site_id": {"test-site"},
    "sensor_id": {"scan-sensor"},
}


@pytest.fixture(scope="module")
def sensor_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run ``individ sensor run`` in a sandbox of its own (cwd, HOME, TMPDIR); return the sandbox."""
    root = tmp_path_factory.mktemp("scan")
    clip = excerpt(DEMO_CLIP, tmp_path_factory.mktemp("input") / "clip.mp4", 5.5, 16.0)
    for name in ("work", "home", "tmp", "logs", "pages"):
        (root / name).mkdir()
    sensor = {
        "sensor_id": "scan-sensor",
        "log_format": "json",
        "health": {"enabled": True, "port": 0},
        "emission": {"flush_interval_seconds": 2},
        **DEMO_TUNING,
    }
    site = site_dict({"cam-a": str(clip)}, root / "unused", sensor=sensor, counting_line=RIGHT_THIRD, fps_cap=5)
    site["privacy"] = {"min_cell_size": 1}  # let even single demographic counts out, to scan them too
    config = write_site(root / "work" / "site.yaml", site)
    env = {**os.environ, "HOME": str(root / "home"), "TMPDIR": str(root / "tmp"), "PYTHONPATH": str(REPO)}
    log_path = root / "logs" / "sensor.log"
    with open(log_path, "w") as log, open(root / "logs" / "stdout.txt", "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", CLI, "-v", "sensor", "run", "--config", str(config), "--data", str(root / "data")],
            cwd=root / "work",
            env=env,
            stdout=out,
            stderr=log,
        )
        try:
            _save_pages(log_path, root / "pages", process)
            assert process.wait(timeout=180) == 0, log_path.read_text()[-3000:]
        finally:
            if process.poll() is None:
                process.kill()
    return root


def _save_pages(log_path: Path, folder: Path, process: subprocess.Popen[bytes]) -> None:
    """Fetch /healthz and /metrics while the sensor runs, to scan them like files.

    The pages are fetched again and again until the sensor exits, so the files hold the latest pages (with
    persons already through the pipeline) however fast the machine runs the short clip.
    """
    deadline = time.monotonic() + 60
    address = None
    while address is None and time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"http://(127\.0\.0\.1:\d+)/healthz", log_path.read_text())
        address = found.group(1) if found else None
        time.sleep(0.1)
    assert address, "the sensor never announced its health endpoint"
    while process.poll() is None:
        for page in ("healthz", "metrics"):
            try:
                with urllib.request.urlopen(f"http://{address}/{page}", timeout=5) as reply:
                    (folder / page).write_bytes(reply.read())
            except OSError:
                pass  # the sensor is shutting down; the pages of the previous round stay
        time.sleep(0.5)
    assert (folder / "healthz").exists() and (folder / "metrics").exists(), "no health or metrics page was read"


def every_file(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_the_run_wrote_only_expected_kinds_of_files(sensor_run: Path) -> None:
    unexpected = []
    for path in every_file(sensor_run):
        relative = path.relative_to(sensor_run).as_posix()
        if relative.startswith("data/landing/") and path.suffix == ".parquet" and not path.name.startswith(".tmp-"):
            continue
        if relative in ("work/site.yaml", "logs/sensor.log", "logs/stdout.txt", "pages/healthz", "pages/metrics"):
            continue
        if relative == "home/.config/individ/test-site.key":
            assert re.fullmatch(r"[0-9a-f]{64}\n", path.read_text()), "the key file holds only the hex secret"
            assert path.stat().st_mode & 0o077 == 0
            continue
        if relative == "home/.config/individ/test-site.lsh-calibration.json":
            calibration = json.loads(path.read_text())  # aggregates of >= calibration_min_persons passes only
            assert calibration["format"] == "individ-lsh-calibration/1" and calibration["epochs"] == []
            assert path.stat().st_mode & 0o077 == 0
            continue
        unexpected.append(relative)
    assert unexpected == [], f"files no one expected: {unexpected}"
    assert list((sensor_run / "tmp").iterdir()) == []
    streams = {
        p.relative_to(sensor_run / "data" / "landing").parts[0] for p in (sensor_run / "data").rglob("*.parquet")
    }
    assert streams == {"occurrences", "heartbeats", "demographics"}


def test_no_file_holds_image_or_array_bytes(sensor_run: Path) -> None:
    for path in every_file(sensor_run):
        if path.name == "site.yaml":
            continue
        data = path.read_bytes()
        for magic, kind in IMAGE_MAGIC.items():
            assert magic not in data, f"{path.relative_to(sensor_run)} holds {kind} data"
        assert len(data) < 200_000, f"{path.relative_to(sensor_run)} is suspiciously large ({len(data)} bytes)"


def test_landing_zone_files_hold_only_contract_columns_and_values(sensor_run: Path) -> None:
    for path in sorted((sensor_run / "data" / "landing").rglob("*.parquet")):
        stream = Stream(path.relative_to(sensor_run / "data" / "landing").parts[0])
        table = pq.read_table(path)
        expected = SCHEMAS[stream]
        assert table.schema.names == expected.names, f"{path.name}: columns are not contract v1"
        assert [f.type for f in table.schema] == [f.type for f in expected], f"{path.name}: types differ"
        assert set((table.schema.metadata or {}).keys()) == {b"individ.contract"}
        for field in table.schema:
            assert not pa.types.is_binary(field.type) and not pa.types.is_list(field.type)
            if field.name in STRING_VALUES:
                assert set(table.column(field.name).to_pylist()) <= STRING_VALUES[field.name], field.name
            if field.name == "segment_id":
                assert set(table.column(field.name).to_pylist()) == {path.stem}
            if pa.types.is_floating(field.type):
                assert stream is Stream.HEARTBEATS and field.name in (
                    "fictitious_plan_per_group",
                    "latency_p50_ms",
                    "latency_p99_ms",
                )
        if stream is Stream.OCCURRENCES:
            times = table.column("observed_at").cast(pa.int64()).to_pylist()
            assert all(t % 1000 == 0 for t in times), "occurrence times are whole seconds"


def test_logs_and_pages_hold_no_vectors_boxes_or_unknown_fields(sensor_run: Path) -> None:
    lines = (sensor_run / "logs" / "sensor.log").read_text().splitlines()
    assert lines, "the sensor logged nothing"
    for line in lines:
        entry = json.loads(line)  # every line is structured
        assert set(entry) <= LOG_KEYS, f"unexpected log fields {set(entry) - LOG_KEYS}"
    for path in [
        sensor_run / "logs" / "sensor.log",
        sensor_run / "logs" / "stdout.txt",
        *(sensor_run / "pages").iterdir(),
    ]:
        text = path.read_text()
        assert not FLOAT_RUN.search(text), f"{path.name} holds a run of floats"
        assert not BOX.search(text), f"{path.name} holds a box-like tuple"
    metrics = (sensor_run / "pages" / "metrics").read_text()
    labels = set(re.findall(r'(\w+)="', metrics))
    assert labels <= {"camera", "kind", "stage", "stream", "model", "le"}, labels
