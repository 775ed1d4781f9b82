from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from individ.simulator import Imperfections, SimulationParameters, SimulationResult, simulate
from individ.site_config import SiteConfig, example_site_path, load_site_config

DAY = dt.date(2026, 11, 2)


@pytest.fixture(scope="session")
def site() -> SiteConfig:
    return load_site_config(example_site_path())


def small_params(**changes: object) -> SimulationParameters:
    """A short, quiet day: two opening hours at low traffic, few segments (tests stay fast)."""
    base: dict[str, object] = {
        "visitors_per_hour": 300,
        "opening": "10:00",
        "closing": "12:00",
        "sensor_margin_minutes": 30,
        "segment_minutes": 15,
        "imperfections": Imperfections(enabled=False),
    }
    base.update(changes)
    return SimulationParameters.model_validate(base)


Run = Callable[..., SimulationResult]


@pytest.fixture(scope="session")
def run() -> Run:
    """simulate a small day: run(site, data, seed=7, **parameter changes)."""

    def simulate_small(site: SiteConfig, data: Path, seed: int = 7, **changes: object) -> SimulationResult:
        until = changes.pop("delivered_until", None)
        params = small_params(**changes)
        return simulate(site, params, data, DAY, days=1, seed=seed, progress=False, delivered_until=until)  # type: ignore[arg-type]

    return simulate_small
