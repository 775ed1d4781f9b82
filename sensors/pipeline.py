"""The per-frame pipeline of one camera: frame -> persons -> passes -> anonymous events.

For every processed frame: detect persons, update the geometry-only tracker, and for each confirmed
person sample an appearance embedding (at most every ``feature_interval_seconds``). Demographic
guesses (face detection + age + gender, the costliest per-person step) are bounded per frame: at
most ``demographics_per_frame`` persons are analysed, those with the fewest attempts first, and a
track stops being analysed once its age band and gender each have ``demographic_samples_per_track``
confident samples. So the work per frame is the detector plus a fixed number of analyses whatever
the crowd, and everybody still gets a turn. A track's samples are averaged while it lives, for at
most ``max_feature_age_seconds``; then its group is assigned, its demographic vote is handed to the
window aggregator and every feature is overwritten with zeros and dropped. When the track ends (or, for
a person lingering after crossing the counting line, at the pass deadline) it yields one occurrence
(time, camera, group, direction). The frame itself is zeroed when the frame is
done. Nothing in here is written anywhere: events go to the ``EventSink``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np

from individ.site_config import Camera
from sensors.metrics import SensorMetrics
from sensors.settings import TrackingSettings
from sensors.sources import Frame
from sensors.tracking import Pass, TrackedBox, Tracker
from sensors.vision.demographics import DemographicGuess
from sensors.vision.detector import PersonDetector
from sensors.vision.embedding import AppearanceEmbedder

log = logging.getLogger(__name__)

T = TypeVar("T")


# -- the interfaces the vision and privacy parts implement -------------------------------------------


class DemographicEstimator(Protocol):
    def estimate(self, frame_bgr: np.ndarray, person_box_xyxy: np.ndarray) -> DemographicGuess: ...


class GroupAssigner(Protocol):
    """Noise + keyed LSH (sensors.privacy.grouping); ``at`` (unix time) selects the key epoch."""

    def assign(self, embedding: np.ndarray, at: float | None = None) -> int: ...


class EventSink(Protocol):
    """Where the pipeline's anonymous outputs go (the emitter)."""

    def occurrence(self, camera_id: str, observed_at: dt.datetime, group_id: int, direction: str) -> None: ...

    def demographic(self, camera_id: str, when: dt.datetime, age_band: str, gender: str) -> None: ...

    def frame_processed(self, camera_id: str, when: dt.datetime, persons: int, latency_ms: float) -> None: ...


@dataclass
class VisionModels:
    """The models one sensor shares between its cameras (onnxruntime sessions are thread-safe)."""

    detector: PersonDetector
    demographics: DemographicEstimator
    embedder: AppearanceEmbedder


class LockedAssigner:
    """Serialises group assignment across camera threads (key rotation swaps the hash under a lock)."""

    def __init__(self, assigner: GroupAssigner) -> None:
        self._assigner = assigner
        self._lock = threading.Lock()

    def assign(self, embedding: np.ndarray, at: float | None = None) -> int:
        with self._lock:
            return int(self._assigner.assign(embedding, at=at))


# -- a track's features: the only per-person data, and its deletion ---------------------------------


@dataclass
class TrackFeatures:
    """Running sums of one track's samples; wiped as soon as its group is assigned."""

    first_sample: dt.datetime
    first_sample_clock: float  # time.monotonic(), for the feature-lifetime metric
    last_sample: dt.datetime
    embedding_sum: np.ndarray | None = None
    embeddings: int = 0
    ages: Counter[str] = field(default_factory=Counter)
    genders: Counter[str] = field(default_factory=Counter)
    demographic_attempts: int = 0  # analyses tried, confident or not: the fairness key of the per-frame budget
    last_demographic: dt.datetime | None = None

    def add_embedding(self, embedding: np.ndarray | None, when: dt.datetime) -> None:
        """One embedding sample (None: the embedder failed on this person; the sample time still counts)."""
        self.last_sample = when
        if embedding is not None:
            if self.embedding_sum is None:
                self.embedding_sum = np.zeros(embedding.shape, np.float64)
            self.embedding_sum += embedding
            self.embeddings += 1

    def add_demographic(self, age_band: str | None, gender: str | None, when: dt.datetime) -> None:
        """One demographic attempt; only confident answers vote ('unknown' and None do not)."""
        self.demographic_attempts += 1
        self.last_demographic = when
        if age_band is not None and age_band != "unknown":
            self.ages[age_band] += 1
        if gender is not None and gender != "unknown":
            self.genders[gender] += 1

    def needs_demographics(self, samples: int) -> bool:
        """True until both the age band and the gender have ``samples`` confident votes."""
        return min(self.ages.total(), self.genders.total()) < samples

    def mean_embedding(self) -> np.ndarray | None:
        if self.embedding_sum is None or not self.embeddings:
            return None
        return (self.embedding_sum / self.embeddings).astype(np.float32)

    def demographic(self) -> tuple[str, str]:
        """The most frequent known age band and gender across samples, 'unknown' where none was known."""
        age = self.ages.most_common(1)[0][0] if self.ages else "unknown"
        gender = self.genders.most_common(1)[0][0] if self.genders else "unknown"
        return age, gender

    def wipe(self) -> None:
        """Overwrite the feature sums and drop every reference."""
        if self.embedding_sum is not None:
            self.embedding_sum.fill(0.0)
        self.embedding_sum = None
        self.embeddings = 0
        self.ages.clear()
        self.genders.clear()
        self.demographic_attempts = 0
        self.last_demographic = None


@dataclass
class _TrackState:
    """What the pipeline keeps per live track: features until assignment, then only the group id."""

    features: TrackFeatures | None = None
    group_id: int | None = None
    assigned: bool = False  # features were consumed (with or without a usable embedding)


class StageTimer:
    """Per-frame stage durations, recorded into the Prometheus histogram."""

    def __init__(self, metrics: SensorMetrics) -> None:
        self._metrics = metrics

    def record(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self._metrics.observe_stage(stage, now - started)
        return now


class CameraPipeline:
    """Turns one camera's frames into anonymous events. Not thread-safe: one processor thread per camera."""

    def __init__(
        self,
        camera: Camera,
        models: VisionModels,
        assigner: GroupAssigner,
        sink: EventSink,
        tracking: TrackingSettings,
        metrics: SensorMetrics,
        pass_deadline_seconds: float | None = None,
    ) -> None:
        self.camera = camera
        self.models = models
        self.assigner = assigner
        self.sink = sink
        self.settings = tracking
        self.metrics = metrics
        self.tracker = Tracker(tracking, camera.counting_line, pass_deadline_seconds)
        self._tracks: dict[int, _TrackState] = {}
        self._timer = StageTimer(metrics)
        self._model_errors_logged: dict[str, int] = {}  # model -> the monotonic hour it was last logged in
        self.last_frame_at: dt.datetime | None = None
        self._last_persons = 0

    def process(self, frame: Frame) -> None:
        """Run one frame through every stage; the frame's pixels are zeroed before returning."""
        try:
            self._process(frame)
        finally:
            frame.image.fill(0)
            deleted = time.monotonic()
            latency_ms = (deleted - frame.received) * 1000.0
            self.metrics.observe_stage("frame_to_deletion", latency_ms / 1000.0)
        self.sink.frame_processed(self.camera.id, frame.captured_at, self._last_persons, latency_ms)

    def finish(self) -> None:
        """End every live track (the source ended or the service stops) and emit their passes."""
        passes, discarded = self.tracker.finish()
        self._close(passes, discarded)

    def expire_tracks(self, now: dt.datetime) -> None:
        """Hand on the passes due at ``now`` while no frame arrives (a stalled live stream): lost tracks and
        crossings at their deadline still reach the emitter within its release hold."""
        passes, discarded = self.tracker.expire(now)
        self._close(passes, discarded)

    # -- stages --------------------------------------------------------------------------------------

    def _process(self, frame: Frame) -> None:
        image, when = frame.image, frame.captured_at
        self.last_frame_at = when
        self._last_persons = 0
        t = time.perf_counter()
        detections = self.models.detector.detect(image)
        t = self._timer.record("detect", t)
        self._last_persons = len(detections)
        self.metrics.frames_processed.labels(self.camera.id).inc()
        self.metrics.persons_detected.inc(len(detections))
        height, width = image.shape[:2]
        update = self.tracker.update(detections.xyxy, when, (width, height))
        t = self._timer.record("track", t)
        for tracked in update.visible:
            state = self._tracks.setdefault(tracked.track_id, _TrackState())
            if not state.assigned and (state.features is None or self._due(state.features.last_sample, when)):
                self._sample_embedding(state, image, tracked.xyxy, when)
        t = self._timer.record("embed", t)
        for tracked, features in self._demographic_turns(update.visible, when):
            self._sample_demographics(features, image, tracked.xyxy, when)
        self._timer.record("demographics", t)
        self.expire_features(when)
        self._close(update.ended, update.discarded)

    def expire_features(self, when: dt.datetime | None = None) -> None:
        """Assign and delete the features of every track that has held them for the maximum age.

        The age counts in frame time and in wall-clock time, whichever is first: a person the detector
        has lost, or a camera that stopped delivering frames, does not keep features alive (the service
        calls this between frames too)."""
        bound = self.settings.max_feature_age_seconds
        now = time.monotonic()
        for state in self._tracks.values():
            features = state.features
            if features is None:
                continue
            frame_age = (when - features.first_sample).total_seconds() if when is not None else 0.0
            if frame_age >= bound or now - features.first_sample_clock >= bound:
                self._assign(state)

    def _due(self, last: dt.datetime | None, when: dt.datetime) -> bool:
        return last is None or (when - last).total_seconds() >= self.settings.feature_interval_seconds

    def _demographic_turns(
        self, visible: list[TrackedBox], when: dt.datetime
    ) -> list[tuple[TrackedBox, TrackFeatures]]:
        """The persons analysed in this frame: at most ``demographics_per_frame`` of those still needing a guess
        and due for a sample, fewest attempts first (then longest waiting), so that nobody starves."""
        candidates = []
        for tracked in visible:
            features = self._tracks[tracked.track_id].features
            if (
                features is not None
                and features.needs_demographics(self.settings.demographic_samples_per_track)
                and self._due(features.last_demographic, when)
            ):
                candidates.append((tracked, features))
        candidates.sort(
            key=lambda pair: (pair[1].demographic_attempts, pair[1].last_demographic or pair[1].first_sample)
        )
        return candidates[: self.settings.demographics_per_frame]

    def _sample_embedding(self, state: _TrackState, image: np.ndarray, box: np.ndarray, when: dt.datetime) -> None:
        embedding = self._call("embedder", lambda: self.models.embedder.embed(image, box))
        if state.features is None:
            state.features = TrackFeatures(when, time.monotonic(), when)
        state.features.add_embedding(embedding, when)
        if embedding is not None:
            embedding.fill(0.0)

    def _sample_demographics(
        self, features: TrackFeatures, image: np.ndarray, box: np.ndarray, when: dt.datetime
    ) -> None:
        guess = self._call("demographics", lambda: self.models.demographics.estimate(image, box))
        features.add_demographic(
            guess.age_band if guess is not None else None, guess.gender if guess is not None else None, when
        )

    def _call(self, model: str, run: Callable[[], T]) -> T | None:
        """Run one model on one person; a failure skips that sample (logged without any data) but never the camera."""
        try:
            return run()
        except Exception as exc:
            self.metrics.model_errors.labels(model).inc()
            # Once per model and hour: a line per failure would time each person at this camera.
            hour = int(time.monotonic() // 3600)
            if self._model_errors_logged.get(model) != hour:
                self._model_errors_logged[model] = hour
                log.warning(
                    "%s failed on a person (%s); samples skipped (counted in individ_sensor_model_errors_total)",
                    model,
                    type(exc).__name__,
                    extra={"camera_id": self.camera.id},
                )
            return None

    def _assign(self, state: _TrackState) -> None:
        """Consume the track's features: group from the mean embedding, demographics to the sink, then wipe."""
        features = state.features
        assert features is not None
        t = time.perf_counter()
        mean = features.mean_embedding()
        if mean is not None:
            at = features.last_sample.timestamp()
            group = self._call("assigner", lambda: self.assigner.assign(mean, at=at))
            state.group_id = int(group) if group is not None else None
            mean.fill(0.0)
        t = self._timer.record("assign", t)
        age, gender = features.demographic()
        self.sink.demographic(self.camera.id, features.last_sample, age, gender)
        features.wipe()
        self.metrics.feature_lifetime_seconds.observe(time.monotonic() - features.first_sample_clock)
        state.features = None
        state.assigned = True
        self._timer.record("delete", t)

    def _close(self, passes: list[Pass], discarded: list[int]) -> None:
        for track_id in discarded:
            state = self._tracks.pop(track_id, None)
            if state is not None and state.features is not None:
                state.features.wipe()
        for person in passes:
            state = self._tracks.pop(person.track_id, _TrackState())
            if not state.assigned and state.features is not None:
                self._assign(state)
            if state.group_id is None:
                self.metrics.passes_without_features.inc()
                continue
            self.sink.occurrence(self.camera.id, person.observed_at, state.group_id, person.direction)
