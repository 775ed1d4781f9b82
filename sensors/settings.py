"""The sensor service's own settings: the ``sensor:`` section of the site YAML.

The site configuration (individ/site_config.py) validates cameras and privacy parameters; this module
validates what only the sensor needs (models, detector thresholds, tracking, ports, buffers). Errors
name the field and the fix, in the same style as the site configuration.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from individ.fictitious import DEFAULT_RELEASE_HOLD_SECONDS
from individ.site_config import ConfigError, SiteConfig, describe_validation_error, load_site_config

# The models shipped with the repository/package (written by the model conversion scripts).
SHIPPED_MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetectorKind(StrEnum):
    SSDLITE = "ssdlite"  # the shipped SSDLite-MobileNetV2 person detector
    YOLO = "yolo"  # an operator's YOLO-family export: output [1, 4 + classes, N]
    SSD = "ssd"  # an operator's SSD-style export: boxes and scores outputs


class OnnxProvider(StrEnum):
    CPU = "cpu"
    CUDA = "cuda"


class PartialWindowPolicy(StrEnum):
    FLUSH = "flush"  # write the partial demographics window at shutdown (small-cell policy still applies)
    DISCARD = "discard"  # drop it: only complete windows ever leave the sensor


class ModelPaths(_Strict):
    """ONNX model files; relative paths are resolved against the shipped ``models/`` folder."""

    person_detector: Path = Path("person_detector_ssdlite.onnx")
    face_detector: Path = Path("face_detector_centerface.onnx")
    age_estimator: Path = Path("age_estimator.onnx")
    gender_estimator: Path = Path("gender_estimator.onnx")
    # Optional operator-supplied re-identification model; None: the built-in descriptor.
    reid: Path | None = None

    def resolved(self, base: Path = SHIPPED_MODELS_DIR) -> ModelPaths:
        def resolve(path: Path | None) -> Path | None:
            if path is None:
                return None
            path = path.expanduser()
            return path if path.is_absolute() else base / path

        return ModelPaths(
            person_detector=resolve(self.person_detector),  # type: ignore[arg-type]
            face_detector=resolve(self.face_detector),  # type: ignore[arg-type]
            age_estimator=resolve(self.age_estimator),  # type: ignore[arg-type]
            gender_estimator=resolve(self.gender_estimator),  # type: ignore[arg-type]
            reid=resolve(self.reid),
        )

    def missing(self) -> list[str]:
        """Names of configured model files that do not exist (call on resolved paths)."""
        named = {
            "person_detector": self.person_detector,
            "face_detector": self.face_detector,
            "age_estimator": self.age_estimator,
            "gender_estimator": self.gender_estimator,
            "reid": self.reid,
        }
        return [f"models.{name}: {path}" for name, path in named.items() if path is not None and not path.is_file()]


class Tiling(_Strict):
    """Run the detector on overlapping tiles as well as the whole frame: SSDLite misses small persons."""

    enabled: bool = False
    rows: int = Field(default=2, ge=1, le=4)
    cols: int = Field(default=2, ge=1, le=4)
    overlap: float = Field(default=0.2, ge=0.0, lt=0.5)


class DetectorSettings(_Strict):
    kind: DetectorKind = DetectorKind.SSDLITE
    confidence_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    nms_iou_threshold: float = Field(default=0.45, gt=0.0, lt=1.0)
    # YOLO exports carry many classes; the index of 'person' (0 in COCO order).
    person_class: int = Field(default=0, ge=0)
    min_box_height_px: int = Field(default=24, ge=1)
    tiling: Tiling = Tiling()


class DemographicsSettings(_Strict):
    face_confidence_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    # Below this confidence the age band / gender is reported as 'unknown'.
    age_confidence_threshold: float = Field(default=0.4, ge=0.0, le=1.0)
    gender_confidence_threshold: float = Field(default=0.7, ge=0.0, le=1.0)


class TrackingSettings(_Strict):
    # Features of a track are averaged at most this long, then the group is assigned and they are deleted.
    max_feature_age_seconds: float = Field(default=2.0, gt=0.0, le=2.0)
    # Sample the embedding (and try a demographic guess) at most this often per track.
    feature_interval_seconds: float = Field(default=0.2, ge=0.0, le=2.0)
    # A track's demographic guess is a vote; once its age band and its gender each have this many confident
    # (not 'unknown') samples, more analyses would cost CPU and add little, so the track gets no more. (Its
    # features live at most max_feature_age_seconds, so it may get fewer: the vote then uses what it has.)
    demographic_samples_per_track: int = Field(default=3, ge=1, le=20)
    # Face detection + age + gender cost ~11 ms per person on one CPU core: at most this many persons are
    # analysed per frame (those with the fewest attempts first), so a crowd cannot push the frame-to-deletion
    # latency past its bound; the embeddings, which the groups need, keep their full sampling.
    demographics_per_frame: int = Field(default=1, ge=1, le=20)
    # A track unseen this long has ended (the person left the view).
    max_missing_seconds: float = Field(default=1.0, gt=0.0, le=10.0)
    # Detections needed before a track counts as a person (suppresses one-frame false positives).
    min_hits: int = Field(default=3, ge=1, le=30)
    iou_threshold: float = Field(default=0.2, gt=0.0, lt=1.0)
    # When boxes no longer overlap (low frame rate), match centroids within this many box heights.
    max_centroid_distance: float = Field(default=0.8, gt=0.0, le=5.0)


class HealthSettings(_Strict):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9110, ge=0, le=65535, description="0: any free port")


class ReconnectSettings(_Strict):
    initial_seconds: float = Field(default=1.0, gt=0.0, le=60.0)
    max_seconds: float = Field(default=60.0, gt=0.0, le=3600.0)
    multiplier: float = Field(default=2.0, ge=1.0, le=10.0)
    jitter: float = Field(default=0.2, ge=0.0, le=1.0, description="fraction of the delay drawn at random")
    # Consecutive failed reads before a live stream counts as dropped and is reopened.
    max_consecutive_failures: int = Field(default=25, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_seconds < self.initial_seconds:
            raise ValueError("max_seconds is below initial_seconds: raise max_seconds")
        return self


class EmissionSettings(_Strict):
    flush_interval_seconds: float = Field(default=60.0, gt=0.0, le=3600.0)
    # Occurrences (real and fictitious alike) and heartbeats leave the emitter by closed time slices only: every
    # row timed before (camera clock - this hold). A real pass reaches the emitter only when its track ends, a
    # fictitious one when its time comes; releasing both by their time, after a hold longer than any pass takes,
    # makes the segment a row lands in say nothing about its kind. A person lingering after crossing the counting
    # line is handed on at half the hold (``pass_deadline_seconds``); the other half absorbs processing lag. At
    # least 30 s: a pass that never crossed arrives tracking.max_missing_seconds (at most 10 s) after its time.
    release_hold_seconds: int = Field(default=DEFAULT_RELEASE_HOLD_SECONDS, ge=30, le=1800)
    # Rows held in memory per stream while the landing zone cannot be written; beyond it the oldest
    # rows are dropped, loudly and counted.
    max_buffered_rows: int = Field(default=200_000, ge=100)
    partial_demographics_on_shutdown: PartialWindowPolicy = PartialWindowPolicy.FLUSH
    # At shutdown, keep retrying a failing landing zone this long before exiting with the rows unwritten.
    shutdown_write_timeout_seconds: float = Field(default=30.0, ge=0.0, le=3600.0)

    @property
    def pass_deadline_seconds(self) -> float:
        """A pass is handed to the emitter at most this long after its time, whatever the person does next."""
        return self.release_hold_seconds / 2


class SensorSettings(_Strict):
    sensor_id: str = Field(default="sensor-1", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    models: ModelPaths = ModelPaths()
    onnx_provider: OnnxProvider = OnnxProvider.CPU
    onnx_threads: int = Field(default=1, ge=1, le=64, description="intra-op threads per ONNX session")
    detector: DetectorSettings = DetectorSettings()
    demographics: DemographicsSettings = DemographicsSettings()
    tracking: TrackingSettings = TrackingSettings()
    health: HealthSettings = HealthSettings()
    reconnect: ReconnectSettings = ReconnectSettings()
    emission: EmissionSettings = EmissionSettings()
    # Frames waiting between a camera's reader and its processor; a live stream drops the oldest beyond it.
    frame_queue_size: int = Field(default=1, ge=1, le=100)
    # The site secret behind the LSH keys (hex, mode 0600, created if absent); never in the landing zone.
    # None: ~/.config/individ/<site id>.key. $INDIVID_SENSOR_KEY_FILE overrides both.
    key_file: Path | None = None
    # Timestamps of video files are start + position in the file; None: the time the service started.
    file_start_time: dt.datetime | None = None
    log_format: str = Field(default="json", pattern=r"^(json|text)$")

    @model_validator(mode="after")
    def _aware_start(self) -> Self:
        if self.file_start_time is not None and self.file_start_time.tzinfo is None:
            raise ValueError("file_start_time has no time zone: write it as 2026-01-01T09:00:00Z or with +01:00")
        return self


def parse_sensor_settings(section: dict[str, Any], source: str = "<config>") -> SensorSettings:
    try:
        return SensorSettings.model_validate(section)
    except ValidationError as exc:
        lines = "\n".join(f"  sensor.{line.strip()}" for line in describe_validation_error(exc).splitlines())
        raise ConfigError(f"invalid sensor settings in {source}:\n{lines}") from None


class SensorConfig:
    """The site configuration plus the validated sensor settings and the config file's folder."""

    def __init__(self, site: SiteConfig, settings: SensorSettings, base_dir: Path) -> None:
        self.site = site
        self.settings = settings
        self.base_dir = base_dir

    def resolve_path(self, value: str) -> Path:
        """A file path from the config, relative to the config file's folder unless absolute."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()


def check_delivery_within_lateness(site: SiteConfig, settings: SensorSettings, source: str = "<config>") -> None:
    """Events must reach the landing zone before the analytics give up waiting for their hour.

    A row leaves the sensor at most the release hold plus one flush interval after its time; the landing-zone
    sensor in Dagster treats an hour as final once ``flows.lateness_minutes`` have passed after it.
    """
    delivery = settings.emission.release_hold_seconds + settings.emission.flush_interval_seconds
    if delivery > site.flows.lateness_minutes * 60:
        raise ConfigError(
            f"invalid sensor settings in {source}:\n"
            f"  sensor.emission: rows reach the landing zone up to {delivery:g} s after their time "
            f"(release_hold_seconds + flush_interval_seconds), later than flows.lateness_minutes "
            f"({site.flows.lateness_minutes} min): shorten the hold or the flush interval, or raise the lateness"
        )


def load_sensor_config(path: str | Path) -> SensorConfig:
    """Read a site YAML and validate both its site part and its ``sensor:`` section."""
    path = Path(path)
    site = load_site_config(path)
    settings = parse_sensor_settings(site.sensor, str(path))
    check_delivery_within_lateness(site, settings, str(path))
    return SensorConfig(site, settings, path.resolve().parent)
