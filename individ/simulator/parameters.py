"""Simulator parameters: one pydantic model with realistic defaults, optionally read from a ``simulation:`` YAML file.

They live apart from the site configuration because they describe the world (shoppers, the sensor's
imperfections), not the installation.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from individ.contract import AGE_BANDS
from individ.site_config import ConfigError, describe_validation_error, read_yaml_mapping

REAL_AGE_BANDS: tuple[str, ...] = tuple(band for band in AGE_BANDS if band != "unknown")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _clock(value: str) -> str:
    try:
        dt.time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day: use HH:MM") from None
    return value


def minutes_of(clock: str) -> int:
    """Minutes after local midnight of an ``HH:MM`` clock time."""
    time = dt.time.fromisoformat(clock)
    return time.hour * 60 + time.minute


class ArrivalPeak(_Model):
    """A bump in the arrival rate (lunch, after work), added to a flat base rate of 1."""

    at: str = Field(description="local clock time of the peak, HH:MM")
    width_hours: float = Field(gt=0, description="standard deviation of the bump")
    weight: float = Field(ge=0, description="height of the bump relative to the base rate")

    @field_validator("at")
    @classmethod
    def _check_at(cls, value: str) -> str:
        return _clock(value)


class Imperfections(_Model):
    """What goes wrong in a real sensor deployment; every rate is recorded in the ground truth."""

    enabled: bool = True
    missed_detection_rate: float = Field(default=0.02, ge=0, lt=1, description="real passes the sensor misses")
    double_count_rate: float = Field(default=0.01, ge=0, lt=1, description="passes counted twice (track split)")
    outages_per_camera_day: float = Field(default=0.05, ge=0, description="expected outages per camera and day")
    outage_median_minutes: float = Field(default=20.0, gt=0)
    outage_heartbeats: Literal["down", "missing", "mixed"] = Field(
        default="mixed", description="during an outage: heartbeats say 'down', are missing, or either at random"
    )
    clock_skew_sd_seconds: float = Field(default=2.0, ge=0, description="per-camera clock offset, whole seconds")
    late_segment_rate: float = Field(default=0.02, ge=0, le=1, description="segments delivered hours late")
    late_delay_hours: tuple[float, float] = (1.0, 4.0)
    duplicate_segment_rate: float = Field(default=0.01, ge=0, le=1, description="segments delivered twice")
    malformed_segments: int = Field(default=0, ge=0, description="corrupt files dropped into the landing zone")
    age_error_rate: float = Field(default=0.15, ge=0, le=1, description="age band guessed one band off")
    gender_error_rate: float = Field(default=0.05, ge=0, le=1)
    attribute_unknown_rate: float = Field(default=0.03, ge=0, le=1, description="age and gender left 'unknown'")

    def effective(self) -> Imperfections:
        """The imperfections actually applied: all zero when disabled."""
        if self.enabled:
            return self
        return Imperfections(
            enabled=False,
            missed_detection_rate=0,
            double_count_rate=0,
            outages_per_camera_day=0,
            clock_skew_sd_seconds=0,
            late_segment_rate=0,
            duplicate_segment_rate=0,
            malformed_segments=self.malformed_segments,
            age_error_rate=0,
            gender_error_rate=0,
            attribute_unknown_rate=0,
        )


class SimulationParameters(_Model):
    """The visitor model and the sensor model of ``individ simulate``."""

    # Traffic: new visitors arriving per hour, averaged over the opening hours (returning visits come on top).
    visitors_per_hour: float = Field(default=5000.0, gt=0)
    opening: str = "09:00"
    closing: str = "21:00"
    last_entry_minutes: int = Field(default=30, ge=0, description="no new arrivals this long before closing")
    closing_grace_minutes: int = Field(default=15, ge=0, description="shoppers still inside leave within this")
    sensor_margin_minutes: int = Field(default=60, ge=0, description="sensors run this long before/after hours")
    peaks: list[ArrivalPeak] = [
        ArrivalPeak(at="12:30", width_hours=1.0, weight=0.8),
        ArrivalPeak(at="17:30", width_hours=1.5, weight=1.2),
    ]
    # Routes.
    stores_per_visit_mean: float = Field(default=2.7, ge=1, description="1 + Poisson(mean - 1), capped")
    max_stores_per_visit: int = Field(default=6, ge=1)
    store_popularity: dict[str, float] = Field(default={}, description="relative weight per store id (default 1)")
    same_zone_exit_probability: float = Field(default=0.7, ge=0, le=1)
    walk_median_seconds: float = Field(default=60.0, gt=0, description="between a zone's corridor and elsewhere")
    door_walk_median_seconds: float = Field(default=20.0, gt=0, description="corridor camera to store door")
    walk_sigma: float = Field(default=0.4, ge=0, description="lognormal sigma of walking times")
    # Geography (opt-in): with store positions, the next store and the exit are drawn nearby rather than anywhere,
    # and walks take longer the farther they go. Empty store_positions: routes ignore where stores are.
    store_positions: dict[str, float] = Field(default={}, description="metres along the walkway per store id")
    gate_positions: dict[str, float] = Field(
        default={}, description="metres along the walkway per entrance and exit camera id (with store_positions)"
    )
    route_distance_scale_m: float = Field(
        default=100.0, gt=0, description="next stop drawn with weight popularity x exp(-distance / scale)"
    )
    walking_speed_m_per_s: float = Field(
        default=1.2, gt=0, description="a walk's median is walk_median_seconds + distance / speed"
    )
    # Dwell in stores: lognormal, heavy-tailed.
    dwell_median_minutes: float = Field(default=12.0, gt=0)
    dwell_median_minutes_by_store: dict[str, float] = {}
    dwell_sigma: float = Field(default=0.8, ge=0)
    dwell_max_minutes: float = Field(default=180.0, gt=0)
    # Returning visitors: the same person comes back later the same day.
    return_probability: float = Field(default=0.08, ge=0, le=1)
    return_gap_median_minutes: float = Field(default=120.0, gt=0)
    # Demographics (true attributes).
    age_band_shares: dict[str, float] = {
        "0-17": 0.12,
        "18-27": 0.18,
        "28-37": 0.2,
        "38-47": 0.17,
        "48-57": 0.13,
        "58-67": 0.1,
        "68-77": 0.07,
        "78+": 0.03,
    }
    female_share: float = Field(default=0.55, ge=0, le=1)
    # The sensor's linkage: probability that two sightings of one person share a group.
    p: float = Field(default=0.5, gt=0, le=1)
    p_by_camera: dict[str, float] = {}
    linkage: Literal["pairwise", "previous_group"] = Field(
        default="pairwise",
        description=(
            "pairwise: ANY two sightings of a person share a group with probability p (LSH of a noisy appearance "
            "vector: sightings are independent given the person); previous_group: each pass repeats the person's "
            "previous group with probability p, so sightings k passes apart share it with about p**k"
        ),
    )
    # Delivery.
    segment_minutes: int = Field(default=5, ge=1, le=60)
    delivery_delay_median_seconds: float = Field(default=30.0, gt=0)
    imperfections: Imperfections = Imperfections()

    @field_validator("opening", "closing")
    @classmethod
    def _check_clock(cls, value: str) -> str:
        return _clock(value)

    @field_validator("age_band_shares")
    @classmethod
    def _bands(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(REAL_AGE_BANDS))
        if unknown:
            raise ValueError(f"unknown age bands {unknown}: use {list(REAL_AGE_BANDS)}")
        if sum(value.values()) <= 0 or min(value.values()) < 0:
            raise ValueError("shares must be non-negative and not all zero")
        return value

    @field_validator("p_by_camera")
    @classmethod
    def _camera_p(cls, value: dict[str, float]) -> dict[str, float]:
        if any(not 0 < p <= 1 for p in value.values()):
            raise ValueError("every p must be in (0, 1]")
        return value

    @field_validator("store_positions", "gate_positions")
    @classmethod
    def _positions(cls, value: dict[str, float]) -> dict[str, float]:
        if not all(math.isfinite(position) for position in value.values()):
            raise ValueError("every position must be a finite number of metres")
        return value

    @model_validator(mode="after")
    def _geography(self) -> Self:
        if bool(self.store_positions) != bool(self.gate_positions):
            raise ValueError("store_positions and gate_positions go together: give both (geography) or neither")
        return self

    @property
    def follows_geography(self) -> bool:
        return bool(self.store_positions)

    @model_validator(mode="after")
    def _hours(self) -> Self:
        if minutes_of(self.closing) - self.last_entry_minutes <= minutes_of(self.opening):
            raise ValueError("closing (minus last_entry_minutes) must come after opening on the same day")
        if 60 % self.segment_minutes:
            raise ValueError("segment_minutes must divide the hour")
        return self

    @property
    def opening_hours(self) -> float:
        return (minutes_of(self.closing) - minutes_of(self.opening)) / 60


def load_simulation_parameters(path: str | Path) -> SimulationParameters:
    """Read a YAML file with a top-level ``simulation:`` mapping; raise ConfigError naming each problem."""
    data = read_yaml_mapping(path, "simulation parameters")
    if not isinstance(data.get("simulation"), dict):
        raise ConfigError(f"{path} must hold a mapping under 'simulation:'")
    try:
        return SimulationParameters.model_validate(data["simulation"])
    except ValidationError as exc:
        raise ConfigError(f"invalid simulation parameters {path}:\n{describe_validation_error(exc)}") from None
