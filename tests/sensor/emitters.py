"""The real Emitter over a landing zone in a test's folder, built one way for every sensor test that drives it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from individ.contract import LandingZone
from individ.fictitious import DEFAULT_RELEASE_HOLD_SECONDS
from individ.site_config import Camera, CountingLine, Point, PrivacyParameters
from sensors.emitter import Emitter
from sensors.metrics import SensorMetrics
from sensors.sources import FrameCounters
from sensors.writer import BufferedWriter

HOLD = dt.timedelta(seconds=DEFAULT_RELEASE_HOLD_SECONDS)
LINE = CountingLine(start=Point(x=0.1, y=0.6), end=Point(x=0.9, y=0.6))


@dataclass
class EmitterUnderTest:
    emitter: Emitter
    writer: BufferedWriter
    landing: LandingZone
    counters: FrameCounters


def build_emitter(
    tmp_path: Path,
    camera: Camera,
    privacy: PrivacyParameters,
    *,
    seed: int = 1,
    key_epoch: Callable[[dt.datetime], int] = lambda _: 1,
    hold: dt.timedelta = HOLD,
    stream_status: Callable[[str], str] = lambda _: "ok",
) -> EmitterUnderTest:
    """One camera's Emitter writing to ``tmp_path / 'landing'``, its draws seeded."""
    landing = LandingZone(tmp_path / "landing")
    metrics = SensorMetrics()
    writer = BufferedWriter(landing, "test-site", "sensor-1", 10**7, metrics)
    counters = FrameCounters()
    emitter = Emitter(
        [camera],
        {camera.id: counters},
        privacy,
        dt.UTC,
        writer,
        metrics,
        stream_status=stream_status,
        key_epoch=key_epoch,
        rng=np.random.default_rng(seed),
        release_hold=hold,
    )
    return EmitterUnderTest(emitter, writer, landing, counters)
