"""The sensor service: one reader and one processor thread per camera, a main loop that keeps time.

The main thread advances live cameras' clocks, flushes segments every flush interval (each holds the
time slices the emitter released since the last flush, ``sensors.emitter``), saves the LSH
calibration aggregates every hour (``sensors.privacy.calibration``), updates the health state and waits for
the end: a stop request (SIGTERM/SIGINT), ``max_seconds``, or every camera finished (video files and
image folders end). At the end every open track is closed, the rest of each camera's fictitious plan for the
hour is re-timed into the part not yet released, every held row and each camera's partial minute (and, by
policy, partial demographics window) is emitted, the calibration is saved and all buffered rows are written;
if the landing zone still refuses them the exit code says so. A crash (SIGKILL, power loss) skips all that:
the held rows and the rest of the hour's plan are lost, so that hour's cells can fall below the floor.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from individ.contract import LandingZone, Stream
from individ.site_config import Camera, ConfigError
from sensors.emitter import Emitter
from sensors.health import HealthServer
from sensors.metrics import SensorMetrics
from sensors.pipeline import CameraPipeline, GroupAssigner, LockedAssigner, VisionModels
from sensors.settings import OnnxProvider, PartialWindowPolicy, SensorConfig, SensorSettings
from sensors.sources import (
    CameraReader,
    Frame,
    FrameCounters,
    SourceKind,
    SourceStatus,
    resolve_source_path,
    source_kind,
)
from sensors.writer import BufferedWriter

if TYPE_CHECKING:
    from sensors.privacy.calibration import CalibrationStore

log = logging.getLogger(__name__)

_TICK_SECONDS = 0.25
_SHUTDOWN_RETRY_SECONDS = 2.0
_IDLE_CHECK_SECONDS = 0.25
# The LSH calibration aggregates are saved this often and at shutdown (sensors.privacy.calibration).
_CALIBRATION_SAVE_SECONDS = 3600.0


class _Camera:
    """One camera's moving parts."""

    def __init__(
        self,
        camera: Camera,
        reader: CameraReader,
        pipeline: CameraPipeline,
        frames: queue.Queue,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.camera = camera
        self.reader = reader
        self.pipeline = pipeline
        self.frames = frames
        self.clock = clock
        self.live = reader.kind is SourceKind.STREAM
        self.processor = threading.Thread(target=self._run, name=f"processor-{camera.id}", daemon=True)
        self.done = threading.Event()
        self.on_done: Callable[[_Camera], None] = lambda _: None
        self.errors = 0

    def _run(self) -> None:
        try:
            while True:
                try:
                    frame: Frame | None = self.frames.get(timeout=_IDLE_CHECK_SECONDS)
                except queue.Empty:
                    self.pipeline.expire_features()  # no frames: features must still not outlive their bound
                    if self.live:  # a stalled stream's passes must still reach the emitter within its hold
                        self.pipeline.expire_tracks(self.clock())
                    continue
                if frame is None:
                    self.frames.task_done()
                    break
                try:
                    self.pipeline.process(frame)
                except Exception as exc:  # one bad frame must not stop the camera
                    self.errors += 1
                    log.error(
                        "frame processing failed (%s); frame skipped",
                        type(exc).__name__,
                        extra={"camera_id": self.camera.id},
                    )
                finally:
                    self.frames.task_done()
            self.pipeline.finish()
        finally:
            self.on_done(self)
            self.done.set()


class SensorService:
    """Runs every camera of a site configuration until stopped or until every source has ended."""

    def __init__(
        self,
        config: SensorConfig,
        landing: LandingZone,
        models: VisionModels,
        assigner: GroupAssigner,
        epoch_at: Callable[[float], int],
        *,
        fictitious_rng: np.random.Generator | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        save_calibration: Callable[[], object] = lambda: None,
    ) -> None:
        site, settings = config.site, config.settings
        self.config = config
        self.save_calibration = save_calibration
        self.settings = settings
        self.clock = clock
        self.metrics = SensorMetrics()
        self.stop_requested = threading.Event()
        self._stop_readers = threading.Event()
        self.started_at = clock()
        file_start = settings.file_start_time or self.started_at
        self.writer = BufferedWriter(
            landing, site.site.id, settings.sensor_id, settings.emission.max_buffered_rows, self.metrics
        )
        counters = {camera.id: FrameCounters() for camera in site.cameras}
        self.emitter = Emitter(
            site.cameras,
            counters,
            site.privacy,
            site.tz,
            self.writer,
            self.metrics,
            stream_status=self._stream_status,
            key_epoch=lambda minute: epoch_at(minute.timestamp()),
            rng=fictitious_rng,
            release_hold=dt.timedelta(seconds=settings.emission.release_hold_seconds),
        )
        shared_assigner = LockedAssigner(assigner)
        self.cameras: dict[str, _Camera] = {}
        for camera in site.cameras:
            kind = source_kind(camera.source, config.base_dir)
            source = (
                camera.source if kind is SourceKind.STREAM else str(resolve_source_path(camera.source, config.base_dir))
            )
            frames: queue.Queue[Frame | None] = queue.Queue(maxsize=settings.frame_queue_size)
            reader = CameraReader(
                camera.id,
                source,
                kind,
                camera.fps_cap,
                frames,
                counters[camera.id],
                settings.reconnect,
                self._stop_readers,
                file_start,
                clock,
            )
            pipeline = CameraPipeline(
                camera,
                models,
                shared_assigner,
                self.emitter,
                settings.tracking,
                self.metrics,
                pass_deadline_seconds=settings.emission.pass_deadline_seconds,
            )
            self.cameras[camera.id] = _Camera(camera, reader, pipeline, frames, clock)
        self._health: HealthServer | None = None
        self.exit_code = 0

    # -- running -----------------------------------------------------------------------------------

    def run(self, max_seconds: float | None = None) -> int:
        """Run until stopped, ``max_seconds`` elapsed or every source ended; return the exit code."""
        settings = self.settings
        if settings.health.enabled:
            self._health = HealthServer(settings.health.host, settings.health.port, self.health, self.metrics.registry)
            self._health.start()
        include_partial = settings.emission.partial_demographics_on_shutdown is PartialWindowPolicy.FLUSH
        for state in self.cameras.values():
            state.on_done = lambda s: self.emitter.close(s.camera.id, include_partial)
            state.reader.start()
            state.processor.start()
        log.info(
            "sensor started with %d cameras",
            len(self.cameras),
            extra={"sensor_id": settings.sensor_id, "site_id": self.config.site.site.id},
        )
        began = time.monotonic()
        last_flush = last_calibration_save = began
        reason = "every source ended"
        while True:
            if self.stop_requested.wait(_TICK_SECONDS):
                reason = "stop requested"
                break
            now = self.clock()
            for state in self.cameras.values():
                self.metrics.camera_up.labels(state.camera.id).set(state.reader.status is SourceStatus.OK)
                if state.live and not state.done.is_set():
                    self.emitter.advance(state.camera.id, now)
            if time.monotonic() - last_flush >= settings.emission.flush_interval_seconds:
                self.writer.flush()
                last_flush = time.monotonic()
            if time.monotonic() - last_calibration_save >= _CALIBRATION_SAVE_SECONDS:
                self.save_calibration()
                last_calibration_save = time.monotonic()
            if all(state.done.is_set() for state in self.cameras.values()):
                break
            if max_seconds is not None and time.monotonic() - began >= max_seconds:
                reason = f"--max-seconds {max_seconds:g} reached"
                break
        log.info("stopping: %s", reason)
        return self._shutdown()

    def request_stop(self) -> None:
        """Safe to call from a signal handler."""
        self.stop_requested.set()

    def _shutdown(self) -> int:
        self._stop_readers.set()
        for state in self.cameras.values():
            state.reader.join(timeout=15)
            if not state.done.wait(timeout=30):
                log.error("camera processor did not stop in time", extra={"camera_id": state.camera.id})
        self.save_calibration()
        deadline = time.monotonic() + self.settings.emission.shutdown_write_timeout_seconds
        written = self.writer.flush()
        while not written and time.monotonic() < deadline:
            time.sleep(min(_SHUTDOWN_RETRY_SECONDS, max(0.0, deadline - time.monotonic())))
            written = self.writer.flush()
        if self._health is not None:
            self._health.stop()
        self._log_summary()
        if not written:
            lost = {stream.value: self.writer.buffered_rows(stream) for stream in Stream}
            log.error("EXITING WITH UNWRITTEN ROWS (landing zone failing): %s", lost)
            return 1
        log.info("sensor stopped; every buffered row written")
        return 0

    def summary(self) -> dict[str, Any]:
        """Frames processed, processing rate and per-stage latency percentiles of this run."""
        frames = sum(
            self.metrics.registry.get_sample_value("individ_sensor_frames_processed_total", {"camera": camera_id}) or 0
            for camera_id in self.cameras
        )
        seconds = (self.clock() - self.started_at).total_seconds()
        return {
            "frames_processed": int(frames),
            "seconds": round(seconds, 1),
            "frames_per_second": round(frames / seconds, 1) if seconds > 0 else None,
            "stages": self.metrics.stage_summary(),
        }

    def _log_summary(self) -> None:
        summary = self.summary()
        stages = ", ".join(
            f"{stage} p50 {v['p50_ms']:.1f} ms p99 {v['p99_ms']:.1f} ms" for stage, v in summary["stages"].items()
        )
        log.info(
            "run summary: %d frames in %.1f s (%s frames/s); %s",
            summary["frames_processed"],
            summary["seconds"],
            summary["frames_per_second"],
            stages,
        )

    # -- health ------------------------------------------------------------------------------------

    def _stream_status(self, camera_id: str) -> str:
        return self.cameras[camera_id].reader.status.value

    def health(self) -> dict[str, Any]:
        cameras = {}
        for camera_id, state in self.cameras.items():
            last = state.pipeline.last_frame_at
            cameras[camera_id] = {
                "status": state.reader.status.value,
                "source": state.reader.kind.value,
                "last_frame_at": last.isoformat(timespec="seconds") if last else None,
                "reconnects": state.reader.reconnects,
                "frames_corrupt": state.reader.corrupt_total,
                "processing_errors": state.errors,
                "finished": state.done.is_set(),
            }
        writer = self.writer.status
        landing = {
            "writable": writer.writable,
            "last_error": writer.last_error,
            "failing_since": writer.failing_since.isoformat(timespec="seconds") if writer.failing_since else None,
            "buffered_rows": {stream.value: self.writer.buffered_rows(stream) for stream in Stream},
            "rows_dropped": dict(writer.rows_dropped),
        }
        statuses = [c["status"] for c in cameras.values() if not c["finished"]]
        if not writer.writable or (statuses and all(s == SourceStatus.DOWN.value for s in statuses)):
            status = "failing"
        elif any(s != SourceStatus.OK.value for s in statuses) or writer.rows_dropped:
            status = "degraded"
        else:
            status = "ok"
        return {
            "status": status,
            "site_id": self.config.site.site.id,
            "sensor_id": self.settings.sensor_id,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "cameras": cameras,
            "landing_zone": landing,
        }


def landing_root(config: SensorConfig, data_dir: str | Path | None) -> str:
    """``--data DIR`` puts the landing zone at DIR/landing; otherwise the site's ``landing_zone``."""
    if data_dir is not None:
        return str(Path(data_dir) / "landing")
    return config.site.landing_zone


def onnx_providers(provider: OnnxProvider) -> list[str]:
    """onnxruntime provider names; CUDA falls back to CPU for operators the GPU build lacks."""
    import onnxruntime as ort

    if provider is OnnxProvider.CPU:
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise ConfigError(
            "sensor.onnx_provider: cuda is not available in this onnxruntime build: "
            "install onnxruntime-gpu with CUDA, or set onnx_provider: cpu"
        )
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def load_vision_models(settings: SensorSettings) -> VisionModels:
    """The detector, demographic estimator and embedder named by the settings (shipped models by default)."""
    from sensors.vision.demographics import load_demographic_estimator
    from sensors.vision.detector import TilingSettings, load_person_detector
    from sensors.vision.embedding import ColourTextureEmbedder, OnnxReidEmbedder

    paths = settings.models.resolved()
    missing = paths.missing()
    if missing:
        raise ConfigError(
            "sensor model files not found (give the right path under sensor.models, or install the shipped models):\n"
            + "\n".join(f"  sensor.{item}" for item in missing)
        )
    providers = onnx_providers(settings.onnx_provider)
    detector = settings.detector
    tiling = detector.tiling
    person_detector = load_person_detector(
        paths.person_detector,
        detector.kind.value,
        detector.confidence_threshold,
        TilingSettings(tiling.rows, tiling.cols, tiling.overlap) if tiling.enabled else None,
        providers,
        nms_iou=detector.nms_iou_threshold,
        person_class=detector.person_class,
        threads=settings.onnx_threads,
    )
    thresholds = settings.demographics
    demographics = load_demographic_estimator(
        paths.face_detector,
        paths.age_estimator,
        paths.gender_estimator,
        face_threshold=thresholds.face_confidence_threshold,
        age_threshold=thresholds.age_confidence_threshold,
        gender_threshold=thresholds.gender_confidence_threshold,
        providers=providers,
        threads=settings.onnx_threads,
    )
    embedder = (
        OnnxReidEmbedder(paths.reid, providers=providers, threads=settings.onnx_threads)
        if paths.reid is not None
        else ColourTextureEmbedder()
    )
    return VisionModels(person_detector, demographics, embedder)


def default_key_file(site_id: str) -> Path:
    return Path.home() / ".config" / "individ" / f"{site_id}.key"


def calibration_store(key_file: Path, landing: str, fingerprint: str, min_persons: int) -> CalibrationStore | None:
    """The LSH calibration file next to the key file; None (logged) if that would put it in the landing zone."""
    from sensors.privacy.calibration import CalibrationStore, calibration_path_for

    path = calibration_path_for(key_file)
    if "://" not in landing and path.resolve().is_relative_to(Path(landing).resolve()):
        log.error("the key file lies in the landing zone: the LSH calibration is not stored (move the key file)")
        return None
    return CalibrationStore(path, fingerprint, min_persons)


def create_service(config: SensorConfig, data_dir: str | Path | None) -> SensorService:
    """Everything the service needs from the configuration: models, the keyed assigner, the landing zone."""
    from sensors.privacy.grouping import GroupAssigner as NoisyLshAssigner
    from sensors.privacy.keys import EpochKeys, KeyFileError, key_file_path, load_or_create_site_secret

    site, privacy = config.site, config.site.privacy
    models = load_vision_models(config.settings)
    configured_key_file = config.settings.key_file or default_key_file(site.site.id)
    try:
        secret = load_or_create_site_secret(configured_key_file)
    except KeyFileError as exc:
        raise ConfigError(f"sensor.key_file: {exc}") from None
    keys = EpochKeys(secret, privacy.key_rotation_hours, site.tz, privacy.key_rotation_local_hour)
    root = landing_root(config, data_dir)
    store = calibration_store(
        key_file_path(configured_key_file), root, keys.fingerprint(), privacy.calibration_min_persons
    )
    assigner = NoisyLshAssigner(
        keys, privacy.noise_sigma, min_calibration_count=privacy.calibration_min_persons, store=store
    )
    return SensorService(
        config, LandingZone(root), models, assigner, keys.epoch_at, save_calibration=assigner.save_calibration
    )
