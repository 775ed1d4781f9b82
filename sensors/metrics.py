"""Prometheus metrics of one sensor service: counts, states and latencies, never anything about a person.

Each service owns its registry so that several services (tests) can live in one process.

Metrics are scraped every few seconds and kept: a per-camera count of persons or real passes at that
resolution would say when a real person passed a camera, which the occurrence rows (mixed with
fictitious ones) must not. So person detections, occurrences, passes without features and model errors
on a person are site totals (occurrences counted as they are released, by time slice), there is no gauge
of live tracks, and only health (frames, stream state, reader errors) is per camera.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)
_FEATURE_LIFETIME_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 5.0)
_RECENT = 10_000  # durations kept per stage for the exact percentiles of the run summary


class SensorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames_processed = Counter(
            "individ_sensor_frames_processed", "Frames run through the pipeline", ["camera"], registry=r
        )
        self.persons_detected = Counter(
            "individ_sensor_persons_detected", "Person detections in processed frames, all cameras", registry=r
        )
        self.occurrences = Counter(
            "individ_sensor_occurrences", "Occurrence rows released to the writer, all cameras", ["kind"], registry=r
        )
        self.late_passes_dropped = Counter(
            "individ_sensor_late_passes_dropped",
            "Passes that reached the emitter after their time slice was released (raise the release hold)",
            registry=r,
        )
        self.passes_without_features = Counter(
            "individ_sensor_passes_without_features",
            "Passes dropped because no embedding could be computed for them, all cameras",
            registry=r,
        )
        self.model_errors = Counter(
            "individ_sensor_model_errors",
            "Model calls on a person that raised (the sample is skipped), all cameras",
            ["model"],
            registry=r,
        )
        self.stage_seconds = Histogram(
            "individ_sensor_stage_seconds",
            "Time per pipeline stage; frame_to_deletion: frame decoded to frame and per-frame features deleted",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.feature_lifetime_seconds = Histogram(
            "individ_sensor_feature_lifetime_seconds",
            "From a track's first feature sample to the deletion of all its features",
            buckets=_FEATURE_LIFETIME_BUCKETS,
            registry=r,
        )
        self.camera_up = Gauge("individ_sensor_camera_up", "1 if the camera delivers frames", ["camera"], registry=r)
        self.landing_zone_writable = Gauge(
            "individ_sensor_landing_zone_writable", "0 while writing segments fails", registry=r
        )
        self.write_failures = Counter(
            "individ_sensor_write_failures", "Failed attempts to write segments", ["stream"], registry=r
        )
        self.segments_written = Counter(
            "individ_sensor_segments_written", "Segments written to the landing zone", ["stream"], registry=r
        )
        self.buffered_rows = Gauge("individ_sensor_buffered_rows", "Rows waiting to be written", ["stream"], registry=r)
        self.rows_dropped = Counter(
            "individ_sensor_rows_dropped",
            "Rows dropped because the write buffer was full while the landing zone failed",
            ["stream"],
            registry=r,
        )
        self.landing_zone_writable.set(1)
        self._recent: dict[str, deque[float]] = {}
        self._recent_lock = threading.Lock()

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(stage).observe(seconds)
        with self._recent_lock:
            self._recent.setdefault(stage, deque(maxlen=_RECENT)).append(seconds)

    def stage_summary(self) -> dict[str, dict[str, float]]:
        """Per stage: samples, p50 and p99 in milliseconds over the most recent samples."""
        with self._recent_lock:
            recent = {stage: np.asarray(values) * 1000.0 for stage, values in self._recent.items()}
        return {
            stage: {"n": float(len(v)), "p50_ms": float(np.percentile(v, 50)), "p99_ms": float(np.percentile(v, 99))}
            for stage, v in recent.items()
            if len(v)
        }
