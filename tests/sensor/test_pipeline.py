"""A track's features: averaged while it lives, bounded in time, overwritten and dropped at assignment."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest

from individ.site_config import Camera, CameraRole
from sensors.metrics import SensorMetrics
from sensors.pipeline import CameraPipeline, TrackFeatures, VisionModels
from sensors.settings import TrackingSettings
from sensors.sources import Frame

from .conftest import DEMO_CLIP, START, requires_models


def test_features_average_vote_and_are_wiped() -> None:
    features = TrackFeatures(START, time.monotonic(), START)
    features.add_embedding(np.full(1024, 0.5, np.float32), START)
    features.add_embedding(np.full(1024, 1.5, np.float32), START + dt.timedelta(seconds=0.2))
    features.add_embedding(None, START + dt.timedelta(seconds=0.4))
    features.add_demographic("18-27", "unknown", START)
    features.add_demographic("18-27", "female", START + dt.timedelta(seconds=0.2))
    features.add_demographic("unknown", "female", START + dt.timedelta(seconds=0.4))
    mean = features.mean_embedding()
    assert mean is not None and np.allclose(mean, 1.0)
    assert features.demographic() == ("18-27", "female")
    assert features.demographic_attempts == 3
    assert not features.needs_demographics(2) and features.needs_demographics(3)  # 2 ages, 2 genders known
    held = features.embedding_sum
    assert held is not None
    features.wipe()
    assert not held.any()  # the running sum itself was overwritten, not just dereferenced
    assert features.embedding_sum is None and features.mean_embedding() is None
    assert features.demographic() == ("unknown", "unknown")
    assert features.demographic_attempts == 0


class RecordingSink:
    """Collects what the pipeline hands on (the real emitter is tested on its own)."""

    def __init__(self) -> None:
        self.occurrences: list[tuple] = []
        self.demographics: list[tuple] = []
        self.frames = 0

    def occurrence(self, camera_id: str, observed_at: dt.datetime, group_id: int, direction: str) -> None:
        self.occurrences.append((camera_id, observed_at, group_id, direction))

    def demographic(self, camera_id: str, when: dt.datetime, age_band: str, gender: str) -> None:
        self.demographics.append((camera_id, when, age_band, gender))

    def frame_processed(self, camera_id: str, when: dt.datetime, persons: int, latency_ms: float) -> None:
        self.frames += 1


@pytest.fixture(scope="module")
def vision_models() -> VisionModels:
    from sensors.service import load_vision_models
    from sensors.settings import SensorSettings

    return load_vision_models(SensorSettings())


def make_pipeline(models: VisionModels, tracking: TrackingSettings) -> tuple[CameraPipeline, RecordingSink]:
    from sensors.privacy.grouping import GroupAssigner
    from sensors.privacy.keys import EpochKeys, SiteSecret

    assigner = GroupAssigner(EpochKeys(SiteSecret(bytes(range(32))), 24), 0.05)
    sink = RecordingSink()
    camera = Camera(id="cam-a", source=str(DEMO_CLIP), role=CameraRole.CORRIDOR)
    return CameraPipeline(camera, models, assigner, sink, tracking, SensorMetrics()), sink


@requires_models
def test_frames_are_zeroed_and_features_never_outlive_their_bound(vision_models: VisionModels) -> None:
    import cv2

    pipeline, sink = make_pipeline(vision_models, TrackingSettings())
    capture = cv2.VideoCapture(str(DEMO_CLIP))
    for _ in range(720):  # 72 s: the person walks in at ~75 s and stands
        capture.grab()
    longest = 0.0
    for index in range(60):
        ok, image = capture.read()
        assert ok
        when = START + dt.timedelta(seconds=index / 10)
        frame = Frame("cam-a", image, when, time.monotonic())
        pipeline.process(frame)
        assert not frame.image.any()  # the pixels are gone once the frame is done
        for state in pipeline._tracks.values():
            if state.features is not None:
                longest = max(longest, (when - state.features.first_sample).total_seconds())
    assert 0 < longest < 2.0
    assert len(sink.demographics) == 1, "the person's features were consumed after at most 2 s"
    assert sink.occurrences == []  # ... while the person is still there
    assert all(state.features is None for state in pipeline._tracks.values())
    pipeline.finish()
    assert len(sink.occurrences) == 1
    assert sink.frames == 60
    capture.release()


@pytest.mark.parametrize("seconds", [0.5, 2.0])
def test_the_feature_age_bound_is_configurable_up_to_2_s(seconds: float) -> None:
    assert TrackingSettings(max_feature_age_seconds=seconds).max_feature_age_seconds == seconds
    with pytest.raises(ValueError):
        TrackingSettings(max_feature_age_seconds=2.5)


def standing_person() -> list[np.ndarray]:
    """1 s of demo frames in which the detector sees a standing person."""
    import cv2

    capture = cv2.VideoCapture(str(DEMO_CLIP))
    for _ in range(760):  # 76 s: the detector sees the standing person in every frame
        capture.grab()
    images = [capture.read()[1] for _ in range(10)]
    capture.release()
    return images


@requires_models
def test_a_lost_person_does_not_keep_features_beyond_the_bound(vision_models: VisionModels) -> None:
    pipeline, sink = make_pipeline(vision_models, TrackingSettings(max_missing_seconds=10))
    images = standing_person()
    blank = np.zeros_like(images[0])
    frames = [*images, *[blank.copy() for _ in range(15)]]  # seen for 1 s, then lost for 1.5 s
    for index, image in enumerate(frames):
        pipeline.process(Frame("cam-a", image, START + dt.timedelta(seconds=index / 10), time.monotonic()))
    assert pipeline.tracker.active == 1  # the track still waits for the person ...
    assert len(sink.demographics) == 1  # ... but its features were consumed at 2 s
    assert all(state.features is None for state in pipeline._tracks.values())


@requires_models
def test_features_expire_on_the_wall_clock_when_frames_stop(vision_models: VisionModels) -> None:
    pipeline, sink = make_pipeline(vision_models, TrackingSettings(max_feature_age_seconds=0.3, max_missing_seconds=10))
    images = standing_person()
    for index, image in enumerate(images[:4]):
        pipeline.process(Frame("cam-a", image, START + dt.timedelta(seconds=index / 100), time.monotonic()))
    assert any(state.features is not None for state in pipeline._tracks.values())
    time.sleep(0.35)  # the camera delivers nothing; the processor thread calls expire_features between frames
    pipeline.expire_features()
    assert all(state.features is None for state in pipeline._tracks.values())
    assert len(sink.demographics) == 1
