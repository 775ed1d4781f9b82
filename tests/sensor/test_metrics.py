"""The Prometheus page keeps no per-camera trace of persons.

Metrics are scraped every few seconds and stored: a per-camera count of detections or real passes, or a
gauge of live tracks, at that resolution would say when a real person passed a camera, which the occurrence
rows (mixed with fictitious ones) must not. Health stays per camera.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sensors.pipeline import CameraPipeline, VisionModels
from sensors.privacy.grouping import GroupAssigner
from sensors.privacy.keys import EpochKeys, SiteSecret
from sensors.settings import TrackingSettings
from sensors.sources import Frame

from .conftest import START
from .test_release import DOOR, RandomEmbedder, SameGuess, WalkThenStand, make


def test_person_counts_are_site_totals_and_there_is_no_live_track_gauge(tmp_path: Path) -> None:
    emitter, _ = make(tmp_path, min_members=0)
    models = VisionModels(WalkThenStand(30), SameGuess(), RandomEmbedder())
    assigner = GroupAssigner(EpochKeys(SiteSecret(bytes(range(32))), 24), 0.05)
    pipeline = CameraPipeline(DOOR, models, assigner, emitter, TrackingSettings(), emitter.metrics, 60.0)
    for index in range(40):
        image = np.full((480, 640, 3), 100, np.uint8)
        pipeline.process(Frame("door", image, START + dt.timedelta(seconds=index / 10), time.monotonic()))
    pipeline.finish()
    emitter.close("door", True)
    page = generate_latest(emitter.metrics.registry).decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    }
    assert samples[("individ_sensor_persons_detected_total", ())] == 40  # one person in every frame, site-wide
    assert samples[("individ_sensor_occurrences_total", (("kind", "real"),))] == 1
    assert samples[("individ_sensor_frames_processed_total", (("camera", "door"),))] == 40  # health: per camera
    person_metrics = (
        "individ_sensor_persons_detected",
        "individ_sensor_occurrences",
        "individ_sensor_active_tracks",
        "individ_sensor_passes_without_features",
        "individ_sensor_model_errors",
    )
    per_camera = {name for name, labels in samples if name.startswith(person_metrics) and dict(labels).get("camera")}
    assert per_camera == set()
    assert "individ_sensor_active_tracks" not in page


class FailingEmbedder:
    def embed(self, frame_bgr: np.ndarray, person_box_xyxy: np.ndarray) -> np.ndarray:
        raise RuntimeError("no embedding")


def test_model_errors_on_persons_are_site_totals_and_logged_once_an_hour(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing model fails on every person: one log line per failure would time each of them at the camera."""
    emitter, _ = make(tmp_path, min_members=0)
    models = VisionModels(WalkThenStand(30), SameGuess(), FailingEmbedder())
    assigner = GroupAssigner(EpochKeys(SiteSecret(bytes(range(32))), 24), 0.05)
    pipeline = CameraPipeline(DOOR, models, assigner, emitter, TrackingSettings(), emitter.metrics, 60.0)
    with caplog.at_level(logging.WARNING, logger="sensors.pipeline"):
        for index in range(40):
            image = np.full((480, 640, 3), 100, np.uint8)
            pipeline.process(Frame("door", image, START + dt.timedelta(seconds=index / 10), time.monotonic()))
        pipeline.finish()
    registry = emitter.metrics.registry
    assert (registry.get_sample_value("individ_sensor_model_errors_total", {"model": "embedder"}) or 0) > 1
    assert registry.get_sample_value("individ_sensor_passes_without_features_total") == 1
    assert len([r for r in caplog.records if "failed on a person" in r.getMessage()]) == 1
