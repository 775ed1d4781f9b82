"""Shared helpers for the sensor tests: synthetic clips, site configurations, the shipped models."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
DEMO_CLIP = REPO / "sensors" / "demo" / "one-by-one-person-detection.mp4"
REQUIRED_MODELS = (
    "person_detector_ssdlite.onnx",
    "face_detector_centerface.onnx",
    "age_estimator.onnx",
    "gender_estimator.onnx",
)
START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def missing_models() -> list[str]:
    return [name for name in REQUIRED_MODELS if not (MODELS / name).is_file()]


requires_models = pytest.mark.skipif(
    bool(missing_models()),
    reason=f"shipped ONNX models not built yet in {MODELS}: missing {missing_models()}",
)


def write_clip(path: Path, frames: int, fps: float = 10.0, size: tuple[int, int] = (160, 120)) -> Path:
    """A short mp4 of a bright figure walking left to right over a grey background."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for index in range(frames):
        image = np.full((height, width, 3), 90, np.uint8)
        x = int(10 + (width - 40) * index / max(frames - 1, 1))
        cv2.rectangle(image, (x, 30), (x + 20, 100), (40, 160, 220), -1)
        cv2.circle(image, (x + 10, 22), 8, (180, 200, 230), -1)
        writer.write(image)
    writer.release()
    return path


def excerpt(source: Path, target: Path, start_s: float, seconds: float) -> Path:
    """Re-encode ``seconds`` of ``source`` from ``start_s`` into ``target`` (for end-to-end tests)."""
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS)
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    capture.set(cv2.CAP_PROP_POS_MSEC, start_s * 1000)
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    for _ in range(int(seconds * fps)):
        ok, image = capture.read()
        if not ok:
            break
        writer.write(image)
    writer.release()
    capture.release()
    return target


def site_dict(sources: dict[str, str], landing: Path, sensor: dict[str, Any] | None = None, **camera: Any) -> dict:
    return {
        "site": {"id": "test-site", "name": "Test Site", "timezone": "UTC"},
        "landing_zone": str(landing),
        "cameras": [
            {"id": camera_id, "source": source, "role": "corridor", "fps_cap": 10, **camera}
            for camera_id, source in sources.items()
        ],
        "privacy": {"fictitious": {"min_members": 0}},
        "sensor": {"health": {"enabled": False}, "log_format": "text", **(sensor or {})},
    }


def write_site(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
