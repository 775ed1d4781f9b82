"""Site configuration: one YAML file per site, validated with pydantic.

The same file drives the sensor (cameras, privacy parameters, its own ``sensor:`` section), the
simulator (topology) and the analytics (stores, flow parameters). Errors name the field and the fix.
"""

from __future__ import annotations

import zoneinfo
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from individ.contract import N_GROUPS

_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
Identifier = Annotated[str, Field(pattern=_ID_PATTERN)]


class ConfigError(ValueError):
    """A site configuration that cannot be used, with one line per problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraRole(StrEnum):
    ENTRANCE = "entrance"
    EXIT = "exit"
    STORE_DOOR_IN = "store_door_in"
    STORE_DOOR_OUT = "store_door_out"
    CORRIDOR = "corridor"


# The crossing direction of a pass (event contract v1's ``direction`` column).
Direction = Literal["in", "out", "unknown"]


class Point(_Strict):
    """A point in normalised image coordinates (0..1, origin top-left)."""

    x: float = Field(ge=0.0, le=1.0)
    y: float = Field(ge=0.0, le=1.0)


class CountingLine(_Strict):
    """A line across the image; crossing it from the left side of start->end counts as ``in``."""

    start: Point
    end: Point

    @model_validator(mode="after")
    def _not_degenerate(self) -> Self:
        if self.start == self.end:
            raise ValueError("start and end are the same point: give two distinct points")
        return self


class Camera(_Strict):
    id: Identifier
    source: str = Field(min_length=1, description="RTSP/HTTP URL, video file or image folder")
    role: CameraRole
    store: Identifier | None = None
    zone: Identifier | None = None
    fps_cap: float = Field(default=10.0, gt=0, le=60)
    counting_line: CountingLine | None = None
    # Expected passes per hour, one figure or 24 figures by local hour; drives the fictitious plan.
    expected_passes_per_hour: float | list[float] = 0.0
    # Shares of fictitious rows per direction, e.g. {in: 0.85, out: 0.05, unknown: 0.1}; fixed in advance so that
    # a row's direction says nothing certain about its kind. None: by role (individ.fictitious.direction_mix).
    fictitious_directions: dict[Direction, float] | None = None

    @field_validator("expected_passes_per_hour")
    @classmethod
    def _profile(cls, value: float | list[float]) -> float | list[float]:
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) != 24:
            raise ValueError("give one figure or exactly 24 figures (one per local hour)")
        if min(values) < 0:
            raise ValueError("expected passes cannot be negative")
        return value

    @model_validator(mode="after")
    def _direction_mix(self) -> Self:
        mix = self.fictitious_directions
        if mix is None:
            return self
        if min(mix.values(), default=0.0) < 0 or abs(sum(mix.values()) - 1.0) > 1e-6:
            raise ValueError("fictitious_directions: give shares of at least 0 that add up to 1")
        if self.counting_line is None and (mix.get("in", 0.0) > 0 or mix.get("out", 0.0) > 0):
            raise ValueError(
                "fictitious_directions: without a counting_line every real pass is 'unknown': "
                "set in and out to 0, or add a counting_line"
            )
        return self

    def expected_passes(self, local_hour: int) -> float:
        value = self.expected_passes_per_hour
        return value[local_hour] if isinstance(value, list) else value


class Store(_Strict):
    id: Identifier
    name: str = Field(min_length=1)
    zone: Identifier | None = None


class FictitiousPolicy(_Strict):
    """Fictitious persons per (group, camera, hour) ~ Poisson(max(0, min_members - expected real))."""

    min_members: float = Field(default=3.0, ge=0)


class SmallCellPolicy(StrEnum):
    SUPPRESS = "suppress"  # drop cells below the minimum
    MERGE_UNKNOWN = "merge_unknown"  # move them into the age_band/gender 'unknown' cell


class PrivacyParameters(_Strict):
    groups: int = N_GROUPS
    # Expected length of the noise vector on the unit sphere; 0.2 costs no measured p_same (sensors/privacy/noise.py).
    noise_sigma: float = Field(default=0.2, ge=0, description="embedding noise, in units of the unit sphere")
    fictitious: FictitiousPolicy = FictitiousPolicy()
    demographics_window_minutes: int = Field(default=15, ge=5, le=60)
    min_cell_size: int = Field(default=5, ge=1)
    small_cells: SmallCellPolicy = SmallCellPolicy.MERGE_UNKNOWN
    key_rotation_hours: int = Field(default=24, ge=1, le=24 * 31)
    # Flows spanning a key change are undercounted, so the key changes while the site is closed: at this hour
    # of the site's winter time (its smallest UTC offset), i.e. one hour later while summer time is in force.
    key_rotation_local_hour: int = Field(default=4, ge=0, le=23, description="hour of the key change, winter time")
    # The LSH calibration (mean and covariance of the keyed projections) is used and stored next to the key
    # file only once it summarises at least this many passes, so that no one person weighs in it.
    calibration_min_persons: int = Field(default=1000, ge=100)

    @field_validator("groups")
    @classmethod
    def _thousand(cls, value: int) -> int:
        if value != N_GROUPS:
            raise ValueError(f"event contract v1 fixes the number of groups at {N_GROUPS}: set groups: {N_GROUPS}")
        return value

    @field_validator("demographics_window_minutes")
    @classmethod
    def _divides_hour(cls, value: int) -> int:
        if 60 % value:
            raise ValueError("the window must divide the hour: use 5, 10, 15, 20, 30 or 60")
        return value


class FlowParameters(_Strict):
    max_lag_minutes: int = Field(default=30, ge=1, le=240)
    # Camera pairs of interest (from, to); empty means every ordered pair of cameras.
    pairs: list[tuple[Identifier, Identifier]] = []
    # Same-group probability for one person's two sightings; None: estimate it from the data.
    p_override: float | None = Field(default=None, gt=0, le=1)
    # An hour is final after this lateness even if later events have not arrived.
    lateness_minutes: int = Field(default=120, ge=0)


class Site(_Strict):
    id: Identifier
    name: str = Field(min_length=1)
    timezone: str

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Europe/Paris") from None
        return value


class SiteConfig(_Strict):
    site: Site
    landing_zone: str = Field(default="./individ-data/landing", description="folder or s3:// URL")
    stores: list[Store] = []
    cameras: list[Camera] = Field(min_length=1)
    privacy: PrivacyParameters = PrivacyParameters()
    flows: FlowParameters = FlowParameters()
    # The sensor service's own settings, validated by the sensor (models, thresholds, ports).
    sensor: dict[str, Any] = {}

    @model_validator(mode="after")
    def _references(self) -> Self:
        problems = []
        for kind, items in (("cameras", self.cameras), ("stores", self.stores)):
            ids = [item.id for item in items]
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                problems.append(f"{kind}: duplicate ids {duplicates}: give each a unique id")
        store_ids = {store.id for store in self.stores}
        for index, camera in enumerate(self.cameras):
            if camera.role in (CameraRole.STORE_DOOR_IN, CameraRole.STORE_DOOR_OUT) and camera.store is None:
                problems.append(f"cameras[{index}].store: a {camera.role} camera needs the id of its store")
            if camera.store is not None and camera.store not in store_ids:
                problems.append(f"cameras[{index}].store: unknown store {camera.store!r}: add it under stores")
        camera_ids = {camera.id for camera in self.cameras}
        for index, (origin, target) in enumerate(self.flows.pairs):
            for name in (origin, target):
                if name not in camera_ids:
                    problems.append(f"flows.pairs[{index}]: unknown camera {name!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.site.timezone)

    def camera(self, camera_id: str) -> Camera:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise KeyError(camera_id)


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem: the field's path and what to do about it."""
    lines = []
    for item in error.errors():
        location = ".".join(str(part) if not isinstance(part, int) else f"[{part}]" for part in item["loc"])
        location = location.replace(".[", "[") or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field: remove it or check its spelling"
        elif item["type"] == "string_pattern_mismatch":
            message = "use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        elif item["type"] == "missing":
            message = "required field is missing: add it"
        lines.append(f"  {location}: {message}")
    return "\n".join(lines)


def parse_site_config(data: Any, source: str = "<config>") -> SiteConfig:
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid site configuration {source}:\n{describe_validation_error(exc)}") from None


def read_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; raise ConfigError naming ``what`` the file is."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must be a YAML mapping")
    return data


def load_site_config(path: str | Path) -> SiteConfig:
    """Read and validate a site YAML file; raise ConfigError with one line per problem."""
    return parse_site_config(read_yaml_mapping(path, "site configuration"), str(path))


def example_site_path(name: str = "demo_mall") -> Path:
    """Path of a site configuration shipped with the package (``demo_mall``, ``demo_clip``)."""
    return Path(str(resources.files("individ") / "sites" / f"{name}.yaml"))
