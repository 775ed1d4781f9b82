"""The per-frame budget of demographic analyses: bounded work per frame, fair turns, features still wiped.

The scene is scripted (a detector that returns known boxes, an estimator that counts its calls) so that the
scheduling is tested exactly and fast; the real models run through the pipeline in test_pipeline.py.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import numpy as np
import pytest

from individ.site_config import Camera, CameraRole
from sensors.metrics import SensorMetrics
from sensors.pipeline import CameraPipeline, VisionModels
from sensors.privacy.grouping import GroupAssigner
from sensors.privacy.keys import EpochKeys, SiteSecret
from sensors.settings import TrackingSettings
from sensors.sources import Frame
from sensors.vision.demographics import DemographicGuess
from sensors.vision.detections import Detections

from .conftest import START
from .test_pipeline import RecordingSink

WIDTH, HEIGHT = 640, 240
FPS = 10


def standing_persons(count: int) -> np.ndarray:
    """``count`` side-by-side person boxes that never overlap (one track each)."""
    width = WIDTH / count
    return np.array([[i * width + 4, 40, (i + 1) * width - 4, 220] for i in range(count)], np.float32)


class ScriptedDetector:
    """Returns the same boxes in every frame: persons standing still."""

    def __init__(self, boxes: np.ndarray) -> None:
        self.boxes = boxes

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        return Detections(self.boxes.copy(), np.ones(len(self.boxes), np.float32))


class CountingEstimator:
    """Counts analyses per frame and per person (by box position); answers ``guess`` every time."""

    def __init__(self, boxes: np.ndarray, guess: DemographicGuess) -> None:
        self.boxes = boxes
        self.guess = guess
        self.this_frame = 0
        self.per_person: Counter[int] = Counter()

    def estimate(self, frame_bgr: np.ndarray, person_box_xyxy: np.ndarray) -> DemographicGuess:
        self.this_frame += 1
        self.per_person[int(np.argmin(np.abs(self.boxes - person_box_xyxy).sum(axis=1)))] += 1
        return self.guess


class RandomEmbedder:
    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def embed(self, frame_bgr: np.ndarray, person_box_xyxy: np.ndarray) -> np.ndarray:
        return self.rng.standard_normal(1024).astype(np.float32)


def run(
    persons: int, guess: DemographicGuess, tracking: TrackingSettings, seconds: float = 3.0
) -> tuple[CameraPipeline, CountingEstimator, RecordingSink, list[int]]:
    """Process ``seconds`` of frames of ``persons`` standing persons; return the analyses made in each frame."""
    boxes = standing_persons(persons)
    estimator = CountingEstimator(boxes, guess)
    models = VisionModels(ScriptedDetector(boxes), estimator, RandomEmbedder())
    sink = RecordingSink()
    assigner = GroupAssigner(EpochKeys(SiteSecret(bytes(range(32))), 24), 0.05)
    camera = Camera(id="cam-a", source="unused.mp4", role=CameraRole.CORRIDOR)
    pipeline = CameraPipeline(camera, models, assigner, sink, tracking, SensorMetrics())
    per_frame = []
    for index in range(int(seconds * FPS)):
        estimator.this_frame = 0
        image = np.full((HEIGHT, WIDTH, 3), 100, np.uint8)
        pipeline.process(Frame("cam-a", image, START + dt.timedelta(seconds=index / FPS), time.monotonic()))
        per_frame.append(estimator.this_frame)
    return pipeline, estimator, sink, per_frame


@pytest.mark.parametrize(("persons", "budget"), [(5, 1), (8, 2), (12, 1)])
def test_never_more_analyses_per_frame_than_the_budget(persons: int, budget: int) -> None:
    tracking = TrackingSettings(demographics_per_frame=budget)
    _, estimator, _, per_frame = run(persons, DemographicGuess("unknown", "unknown"), tracking)
    assert max(per_frame) == budget  # busy (nobody is ever confident) but never over the budget
    assert sum(per_frame) == sum(estimator.per_person.values())


def test_every_person_gets_turns_fairly_when_the_budget_is_short() -> None:
    # 8 persons, 1 analysis per frame, nobody ever confident: ~20 frames of feature lifetime to share.
    _, estimator, sink, _ = run(8, DemographicGuess("unknown", "unknown"), TrackingSettings(demographics_per_frame=1))
    attempts = [estimator.per_person[i] for i in range(8)]
    assert min(attempts) >= 2, attempts
    assert max(attempts) - min(attempts) <= 1, attempts  # fewest attempts first: round robin
    assert len(sink.demographics) == 8  # every track's (unknown) vote still reaches the window counter


def test_a_person_is_analysed_only_until_enough_confident_samples() -> None:
    tracking = TrackingSettings(demographics_per_frame=2, demographic_samples_per_track=3)
    _, estimator, sink, per_frame = run(6, DemographicGuess("28-37", "female"), tracking)
    assert [estimator.per_person[i] for i in range(6)] == [3] * 6
    assert sum(per_frame[-10:]) == 0  # done: the rest of the frames cost no demographic analysis
    assert sorted(row[2:] for row in sink.demographics) == [("28-37", "female")] * 6


def test_features_are_still_wiped_at_assignment() -> None:
    tracking = TrackingSettings(demographics_per_frame=1, max_feature_age_seconds=1.0)
    pipeline, _, sink, _ = run(5, DemographicGuess("28-37", "male"), tracking, seconds=0.8)
    held = [state.features.embedding_sum for state in pipeline._tracks.values() if state.features is not None]
    assert len(held) == 5 and all(array is not None and array.any() for array in held)
    expired = START + dt.timedelta(seconds=2.0)
    pipeline.expire_features(expired)
    assert all(state.features is None and state.assigned for state in pipeline._tracks.values())
    assert all(array is not None and not array.any() for array in held)  # overwritten, not just dropped
    assert len(sink.demographics) == 5


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"demographics_per_frame": 0}, "greater than or equal to 1"),
        ({"demographics_per_frame": 21}, "less than or equal to 20"),
        ({"demographic_samples_per_track": 0}, "greater than or equal to 1"),
    ],
)
def test_budget_settings_are_validated(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrackingSettings(**settings)
