"""The opt-in route model that follows the mall's geography (store and gate positions along a walkway)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from individ.simulator import SimulationParameters, load_simulation_parameters
from individ.simulator.visitors import Day, DayClock, Topology, Walkway, simulate_day
from individ.site_config import ConfigError, SiteConfig, load_site_config

STUDY_SITES = Path(__file__).resolve().parents[2] / "benchmarks" / "sites"
# The demo mall's stores 40 m apart along one walkway, its north gates at one end and its south gates at the other.
STORE_POSITIONS = {
    store: 40.0 * i
    for i, store in enumerate(
        (
            "fashion-one",
            "shoe-hub",
            "book-nook",
            "tech-corner",
            "green-grocer",
            "toy-town",
            "cafe-central",
            "sport-zone",
        )
    )
}
GATE_POSITIONS = {"north-entrance": 0.0, "north-exit": 0.0, "south-entrance": 280.0, "south-exit": 280.0}


def _day(site: SiteConfig, changes: dict[str, object] | None = None) -> Day:
    params = SimulationParameters.model_validate(
        {"visitors_per_hour": 4000, "opening": "10:00", "closing": "13:00", **(changes or {})}
    )
    return simulate_day(
        np.random.default_rng(3), Topology.of(site), params, DayClock.of(site, params, dt.date(2026, 11, 2))
    )


def _geography(scale: float = 50.0) -> dict[str, object]:
    return {"store_positions": STORE_POSITIONS, "gate_positions": GATE_POSITIONS, "route_distance_scale_m": scale}


def _door_steps(site: SiteConfig, day: Day) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive store visits of one trip: (from store, to store, door-out -> next door-in seconds)."""
    topology = Topology.of(site)
    role = np.array([site.camera(c).role.value for c in topology.camera_ids])[day.passes.camera]
    store = np.array([c or "" for c in topology.camera_store])[day.passes.camera]
    on_door = np.flatnonzero(np.isin(role, ("store_door_in", "store_door_out")))
    first, second = on_door[:-1], on_door[1:]
    step = (
        (day.passes.person[first] == day.passes.person[second])
        & (role[first] == "store_door_out")
        & (role[second] == "store_door_in")
    )
    first, second = first[step], second[step]
    return store[first], store[second], day.passes.time[second] - day.passes.time[first]


def test_without_positions_the_geography_settings_change_nothing(site: SiteConfig) -> None:
    """Default routes stay exactly as they were: the new settings act only with positions."""
    today = _day(site)
    tuned = _day(site, {"route_distance_scale_m": 7.0, "walking_speed_m_per_s": 0.3})
    for name in ("person", "camera", "time"):
        assert np.array_equal(getattr(today.passes, name), getattr(tuned.passes, name))


def test_nearby_stores_get_more_flow_than_far_ones(site: SiteConfig) -> None:
    origin, target, _ = _door_steps(site, _day(site, _geography()))
    from_book_nook = origin == "book-nook"  # at 80 m: tech-corner is 40 m away, sport-zone 200 m
    near = int((from_book_nook & (target == "tech-corner")).sum())
    far = int((from_book_nook & (target == "sport-zone")).sum())
    assert near > 8 * far  # exp(160 / 50) = 25 for equally popular stores, before the visited-store effect
    origin, target, _ = _door_steps(site, _day(site))  # today's model: where a store lies does not matter
    from_book_nook = origin == "book-nook"
    near = int((from_book_nook & (target == "tech-corner")).sum())
    far = int((from_book_nook & (target == "sport-zone")).sum())
    assert near == pytest.approx(far, rel=0.3)


def test_first_store_is_drawn_by_popularity_times_distance_decay(site: SiteConfig) -> None:
    topology = Topology.of(site)
    day = _day(site, _geography(scale=40.0) | {"store_popularity": {"shoe-hub": 2.0}})
    role = np.array([site.camera(c).role.value for c in topology.camera_ids])[day.passes.camera]
    entrance = np.array(topology.camera_ids)[day.passes.camera]
    store = np.array([c or "" for c in topology.camera_store])[day.passes.camera]
    door_in = np.flatnonzero(role == "store_door_in")
    after_entrance = door_in[role[door_in - 2] == "entrance"]  # entrance, corridor, door-in: the trip's first store
    from_north = entrance[after_entrance - 2] == "north-entrance"
    first = store[after_entrance][from_north]
    # From 0 m: fashion-one (0 m, weight 1) against shoe-hub (40 m, weight 2 x exp(-1)).
    ratio = (first == "fashion-one").sum() / (first == "shoe-hub").sum()
    assert ratio == pytest.approx(1 / (2 * np.exp(-1)), rel=0.12)


def test_walking_time_grows_with_distance(site: SiteConfig) -> None:
    origin, target, seconds = _door_steps(site, _day(site, _geography(scale=150.0)))
    distance = np.abs(
        np.vectorize(STORE_POSITIONS.__getitem__)(origin) - np.vectorize(STORE_POSITIONS.__getitem__)(target)
    )
    near, far = np.median(seconds[distance == 40]), np.median(seconds[distance == 200])
    # Walk median 60 s + distance / 1.2 m/s, then the default 20 s to the door: 160 m more is 133 s more.
    assert far - near == pytest.approx(160 / 1.2, abs=25)
    _, _, default_seconds = _door_steps(site, _day(site))
    assert np.median(default_seconds) == pytest.approx(80, abs=8)


def test_visitors_leave_by_a_nearby_exit(site: SiteConfig) -> None:
    topology = Topology.of(site)
    day = _day(site, _geography())
    role = np.array([site.camera(c).role.value for c in topology.camera_ids])[day.passes.camera]
    camera = np.array(topology.camera_ids)[day.passes.camera]
    store = np.array([c or "" for c in topology.camera_store])[day.passes.camera]
    exits = np.flatnonzero(role == "exit")
    last_door = exits - np.where(role[exits - 1] == "corridor", 2, 1)  # the door-out before the exit (and corridor)
    from_sport_zone = store[last_door] == "sport-zone"  # at 280 m, by the south gates
    assert (camera[exits][from_sport_zone] == "south-exit").mean() > 0.95  # exp(-280 / 50) for the north exit


def test_positions_are_checked_against_the_site(site: SiteConfig) -> None:
    topology = Topology.of(site)
    unknown_store = SimulationParameters.model_validate(
        _geography() | {"store_positions": STORE_POSITIONS | {"bowling": 10.0}}
    )
    with pytest.raises(ConfigError, match="bowling"):
        Walkway.of(topology, unknown_store)
    missing_store = {k: v for k, v in STORE_POSITIONS.items() if k != "toy-town"}
    with pytest.raises(ConfigError, match="toy-town"):
        Walkway.of(topology, SimulationParameters.model_validate(_geography() | {"store_positions": missing_store}))
    missing_gate = {k: v for k, v in GATE_POSITIONS.items() if k != "south-exit"}
    with pytest.raises(ConfigError, match="south-exit"):
        Walkway.of(topology, SimulationParameters.model_validate(_geography() | {"gate_positions": missing_gate}))
    not_a_gate = GATE_POSITIONS | {"north-corridor": 20.0}
    with pytest.raises(ConfigError, match="north-corridor"):
        Walkway.of(topology, SimulationParameters.model_validate(_geography() | {"gate_positions": not_a_gate}))
    with pytest.raises(ValidationError, match="go together"):
        SimulationParameters(store_positions=STORE_POSITIONS)
    with pytest.raises(ValidationError, match="finite"):
        SimulationParameters.model_validate(_geography() | {"gate_positions": GATE_POSITIONS | {"south-exit": "nan"}})
    with pytest.raises(ValidationError, match="route_distance_scale_m"):
        SimulationParameters.model_validate(_geography(scale=0.0))
    assert Walkway.of(topology, SimulationParameters()) is None


def test_the_benchmarks_study_like_mall_is_consistent() -> None:
    """The accuracy benchmark's 56-camera mall and its parameters agree (positions for every store and gate)."""
    site = load_site_config(STUDY_SITES / "study_mall.yaml")
    params = load_simulation_parameters(STUDY_SITES / "study_mall_simulation.yaml")
    topology = Topology.of(site)
    assert len(site.cameras) == 56 and len(topology.stores) == 20
    assert topology.entrances.size == topology.exits.size == 4
    walkway = Walkway.of(topology, params)
    assert walkway is not None and np.all(np.isfinite(walkway.store_position))
