"""The visitor model: who arrives when, which stores they visit, and every camera they pass (the truth).

Everything is vectorised over visitors with numpy: a day at 20,000 visitors per hour is about 2.6 M
passes. Times are whole UTC epoch seconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from individ.simulator.parameters import REAL_AGE_BANDS, SimulationParameters, minutes_of
from individ.site_config import CameraRole, ConfigError, SiteConfig

# The direction the sensor gives a real pass at a camera with a counting line: the way the role's people walk
# (a corridor's two ways are not modelled). Without a counting line every pass is 'unknown'.
DIRECTION_OF_ROLE: dict[CameraRole, str] = {
    CameraRole.ENTRANCE: "in",
    CameraRole.EXIT: "out",
    CameraRole.STORE_DOOR_IN: "in",
    CameraRole.STORE_DOOR_OUT: "out",
    CameraRole.CORRIDOR: "unknown",
}


@dataclass(frozen=True)
class Topology:
    """The site as index arrays: cameras, entrances, exits, stores with their doors, a corridor per zone."""

    camera_ids: tuple[str, ...]
    camera_zone: np.ndarray  # zone index per camera, -1 when none
    camera_store: tuple[str | None, ...]
    directions: tuple[str, ...]  # per camera, the direction of its real passes
    entrances: np.ndarray  # camera indices
    exits: np.ndarray
    stores: tuple[str, ...]  # stores with both a door-in and a door-out camera
    store_in: np.ndarray  # camera index per store
    store_out: np.ndarray
    store_zone: np.ndarray  # zone index per store
    zone_corridor: np.ndarray  # camera index per zone, -1 when the zone has no corridor camera
    zones: tuple[str, ...]

    @classmethod
    def of(cls, site: SiteConfig) -> Topology:
        zones = sorted({c.zone for c in site.cameras if c.zone} | {s.zone for s in site.stores if s.zone})
        zone_index = {zone: i for i, zone in enumerate(zones)}
        cameras = site.cameras
        camera_zone = np.array([zone_index.get(c.zone, -1) if c.zone else -1 for c in cameras], dtype=np.int64)
        by_role = {
            role: np.array([i for i, c in enumerate(cameras) if c.role is role], dtype=np.int64) for role in CameraRole
        }
        if by_role[CameraRole.ENTRANCE].size == 0 or by_role[CameraRole.EXIT].size == 0:
            raise ConfigError("the simulator needs at least one entrance and one exit camera in the site configuration")
        stores, store_in, store_out, store_zone = [], [], [], []
        for store in site.stores:
            door_in = [i for i, c in enumerate(cameras) if c.store == store.id and c.role is CameraRole.STORE_DOOR_IN]
            door_out = [i for i, c in enumerate(cameras) if c.store == store.id and c.role is CameraRole.STORE_DOOR_OUT]
            if not door_in or not door_out:
                continue  # a store nobody can see entering and leaving adds nothing to the simulation
            stores.append(store.id)
            store_in.append(door_in[0])
            store_out.append(door_out[0])
            zone = store.zone or cameras[door_in[0]].zone
            store_zone.append(zone_index[zone] if zone else -1)
        if not stores:
            raise ConfigError("the simulator needs at least one store with a store_door_in and a store_door_out camera")
        zone_corridor = np.full(max(len(zones), 1), -1, dtype=np.int64)
        for i in by_role[CameraRole.CORRIDOR][::-1]:
            if camera_zone[i] >= 0:
                zone_corridor[camera_zone[i]] = i
        return cls(
            camera_ids=tuple(c.id for c in cameras),
            camera_zone=camera_zone,
            camera_store=tuple(c.store for c in cameras),
            directions=tuple(DIRECTION_OF_ROLE[c.role] if c.counting_line else "unknown" for c in cameras),
            entrances=by_role[CameraRole.ENTRANCE],
            exits=by_role[CameraRole.EXIT],
            stores=tuple(stores),
            store_in=np.array(store_in, dtype=np.int64),
            store_out=np.array(store_out, dtype=np.int64),
            store_zone=np.array(store_zone, dtype=np.int64),
            zone_corridor=zone_corridor,
            zones=tuple(zones),
        )

    def corridor_of(self, zone: np.ndarray) -> np.ndarray:
        """Corridor camera per zone index (-1 for no zone or no corridor)."""
        return np.where(zone >= 0, self.zone_corridor[np.maximum(zone, 0)], -1)


@dataclass(frozen=True)
class DayClock:
    """The UTC epoch seconds of one local day's opening, closing and sensor hours."""

    date: dt.date
    opening: int
    closing: int
    last_entry: int
    sensor_start: int
    sensor_end: int

    @classmethod
    def of(cls, site: SiteConfig, params: SimulationParameters, date: dt.date) -> DayClock:
        midnight = dt.datetime(date.year, date.month, date.day, tzinfo=site.tz)

        def at(minutes: int) -> int:
            local = midnight + dt.timedelta(minutes=minutes)  # wall-clock arithmetic in the site's zone
            return int(local.astimezone(dt.UTC).timestamp())

        opening, closing = minutes_of(params.opening), minutes_of(params.closing)
        margin = params.sensor_margin_minutes
        return cls(
            date=date,
            opening=at(opening),
            closing=at(closing),
            last_entry=at(closing - params.last_entry_minutes),
            sensor_start=(at(opening - margin) // 60) * 60,
            sensor_end=-(-at(closing + margin) // 60) * 60,
        )


@dataclass(frozen=True)
class Passes:
    """Every real pass of the day, sorted by person then time."""

    person: np.ndarray  # int64
    camera: np.ndarray  # int64 camera index
    time: np.ndarray  # int64 UTC epoch seconds


@dataclass(frozen=True)
class StoreVisits:
    store: np.ndarray  # store index
    door_in: np.ndarray  # epoch seconds
    door_out: np.ndarray


@dataclass(frozen=True)
class Day:
    """One simulated day of reality."""

    clock: DayClock
    passes: Passes
    visits: StoreVisits
    person_age: np.ndarray  # index into REAL_AGE_BANDS, per person
    person_female: np.ndarray  # bool per person
    persons: int
    trips: int


def _lognormal(rng: np.random.Generator, median: float | np.ndarray, sigma: float, size: int) -> np.ndarray:
    return np.asarray(median) * np.exp(sigma * rng.standard_normal(size))


def arrival_times(rng: np.random.Generator, params: SimulationParameters, clock: DayClock) -> np.ndarray:
    """New visitors' arrival times (sorted): a flat rate plus peaks, averaging visitors_per_hour over opening hours."""
    minutes = np.arange((clock.last_entry - clock.opening) // 60)
    local_minute = minutes_of(params.opening) + minutes
    rate = np.ones(minutes.size)
    for peak in params.peaks:
        rate += peak.weight * np.exp(-0.5 * ((local_minute - minutes_of(peak.at)) / (60 * peak.width_hours)) ** 2)
    total = rng.poisson(params.visitors_per_hour * params.opening_hours)
    chosen = rng.choice(minutes.size, size=total, p=rate / rate.sum())
    return np.sort(clock.opening + 60 * chosen + rng.integers(0, 60, size=total))


def _check_placed(field: str, positions: dict[str, float], expected: set[str], what: str) -> None:
    """ConfigError unless ``positions`` places exactly the ids in ``expected``."""
    unknown, missing = sorted(set(positions) - expected), sorted(expected - set(positions))
    if unknown:
        raise ConfigError(f"{field} names ids that are not {what}: {unknown}")
    if missing:
        raise ConfigError(f"{field} must place every one of {what}; missing: {missing}")


@dataclass(frozen=True)
class Walkway:
    """Where stores and gates lie along the mall's walkway (metres), for routes that follow the geography."""

    store_position: np.ndarray  # per store index
    gate_position: np.ndarray  # per camera index; NaN for cameras that are neither entrance nor exit
    distance_scale: float  # metres: a stop this much farther is e times less likely
    walking_speed: float  # metres per second

    @classmethod
    def of(cls, topology: Topology, params: SimulationParameters) -> Walkway | None:
        """The walkway of the parameters (None when they give no positions); ConfigError on a mismatch with the site."""
        if not params.follows_geography:
            return None
        _check_placed("store_positions", params.store_positions, set(topology.stores), "stores the site can see")
        gates = {topology.camera_ids[i] for i in np.concatenate([topology.entrances, topology.exits])}
        _check_placed("gate_positions", params.gate_positions, gates, "the site's entrance and exit cameras")
        return cls(
            store_position=np.array([params.store_positions[s] for s in topology.stores], dtype=float),
            gate_position=np.array([params.gate_positions.get(c, np.nan) for c in topology.camera_ids], dtype=float),
            distance_scale=params.route_distance_scale_m,
            walking_speed=params.walking_speed_m_per_s,
        )

    def choose(self, rng: np.random.Generator, log_weight: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """Per row, a column drawn with probability proportional to exp(log_weight - distance / scale) (Gumbel-max)."""
        keys = log_weight - distance / self.distance_scale + rng.gumbel(size=distance.shape)
        return np.argmax(keys, axis=1)


def _store_weights(topology: Topology, params: SimulationParameters) -> np.ndarray:
    unknown = sorted(set(params.store_popularity) - set(topology.stores))
    if unknown:
        raise ConfigError(f"store_popularity names stores the site does not have (or cannot see): {unknown}")
    weights = np.array([params.store_popularity.get(s, 1.0) for s in topology.stores], dtype=float)
    return weights / weights.sum()


def _stores_anywhere(
    rng: np.random.Generator, topology: Topology, params: SimulationParameters, k: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct stores in a popularity-weighted random order (Gumbel top-k): trip index and store per visit."""
    n, n_stores = k.size, len(topology.stores)
    keys = np.log(_store_weights(topology, params))[None, :] + rng.gumbel(size=(n, n_stores))
    order = np.argsort(-keys, axis=1)
    chosen = np.arange(n_stores)[None, :] < k[:, None]
    return np.nonzero(chosen)[0], order[chosen]


def _stores_nearby(
    rng: np.random.Generator,
    topology: Topology,
    params: SimulationParameters,
    walkway: Walkway,
    entrance: np.ndarray,
    k: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct stores, each next one drawn with weight popularity x exp(-distance from here / scale).

    Returns trip index, store and metres walked from the previous stop (the entrance first) per visit.
    """
    n, n_stores, steps = k.size, len(topology.stores), int(k.max(initial=0))
    log_popularity = np.log(_store_weights(topology, params))[None, :]
    here = walkway.gate_position[entrance]
    rows = np.arange(n)
    visited = np.zeros((n, n_stores), dtype=bool)
    store = np.zeros((n, steps), dtype=np.int64)
    walked = np.zeros((n, steps))
    for step in range(steps):
        distance = np.abs(walkway.store_position[None, :] - here[:, None])
        next_store = walkway.choose(rng, np.where(visited, -np.inf, log_popularity), distance)
        store[:, step] = next_store
        walked[:, step] = distance[rows, next_store]
        visited[rows, next_store] = True
        here = walkway.store_position[next_store]
    chosen = np.arange(steps)[None, :] < k[:, None]
    return np.nonzero(chosen)[0], store[chosen], walked[chosen]


@dataclass(frozen=True)
class _Trips:
    passes: Passes
    visits: StoreVisits
    exit_time: np.ndarray  # per trip


def _exit_by_zone(
    rng: np.random.Generator, topology: Topology, params: SimulationParameters, last_zone: np.ndarray
) -> np.ndarray:
    """Exit camera per trip: one in the current zone with some probability, else any."""
    n = last_zone.size
    exit_cam = rng.choice(topology.exits, size=n)
    exit_zone = topology.camera_zone[topology.exits]
    same_zone_choice = np.full(n, -1, dtype=np.int64)
    for zone in np.unique(exit_zone):
        candidates = topology.exits[exit_zone == zone]
        here = last_zone == zone
        same_zone_choice[here] = rng.choice(candidates, size=int(here.sum()))
    prefer = (same_zone_choice >= 0) & (rng.random(n) < params.same_zone_exit_probability)
    return np.where(prefer, same_zone_choice, exit_cam)


def _exit_nearby(
    rng: np.random.Generator, topology: Topology, walkway: Walkway, entrance: np.ndarray, last_store: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exit camera per trip drawn with weight exp(-distance from the last stop / scale), and the metres to it."""
    here = np.where(last_store >= 0, walkway.store_position[np.maximum(last_store, 0)], walkway.gate_position[entrance])
    distance = np.abs(walkway.gate_position[topology.exits][None, :] - here[:, None])
    chosen = walkway.choose(rng, np.zeros((1, topology.exits.size)), distance)
    return topology.exits[chosen], distance[np.arange(here.size), chosen]


def _trips(
    rng: np.random.Generator,
    topology: Topology,
    params: SimulationParameters,
    clock: DayClock,
    person: np.ndarray,
    start: np.ndarray,
    walkway: Walkway | None,
) -> _Trips:
    """Routes for a batch of trips: entrance, [corridor, door in, dwell, door out] per store, [corridor], exit."""
    n, n_stores = start.size, len(topology.stores)
    entrance = rng.choice(topology.entrances, size=n)
    k = np.minimum(1 + rng.poisson(params.stores_per_visit_mean - 1, n), min(params.max_stores_per_visit, n_stores))
    walk_median: float | np.ndarray = params.walk_median_seconds
    if walkway is None:
        visit_trip, store = _stores_anywhere(rng, topology, params, k)
    else:
        visit_trip, store, walked = _stores_nearby(rng, topology, params, walkway, entrance, k)
        walk_median = params.walk_median_seconds + walked / walkway.walking_speed
    m = store.size
    walk = np.maximum(1, np.rint(_lognormal(rng, walk_median, params.walk_sigma, m))).astype(np.int64)
    door_walk = np.maximum(1, np.rint(_lognormal(rng, params.door_walk_median_seconds, params.walk_sigma, m))).astype(
        np.int64
    )
    dwell_median = np.array(
        [params.dwell_median_minutes_by_store.get(s, params.dwell_median_minutes) * 60 for s in topology.stores]
    )
    dwell = np.clip(
        np.rint(_lognormal(rng, dwell_median[store], params.dwell_sigma, m)), 30, params.dwell_max_minutes * 60
    ).astype(np.int64)
    leg = walk + door_walk + dwell
    before = np.cumsum(leg) - leg  # exclusive running sum over all visits, restarted per trip below
    first_visit = np.cumsum(k) - k  # every trip has at least one store visit
    offset = before[first_visit]
    leg_start = start[visit_trip] + before - offset[visit_trip]
    corridor_at = leg_start + walk
    door_in = corridor_at + door_walk
    door_out = door_in + dwell
    # Stores close: no entry after closing; whoever is inside leaves within the grace period.
    keep = door_in <= clock.closing
    leave_by = clock.closing + rng.integers(0, params.closing_grace_minutes * 60 + 1, size=m)
    door_out = np.where(door_out > clock.closing, np.maximum(door_in + 30, np.minimum(door_out, leave_by)), door_out)
    visit_trip, store, corridor_at, door_in, door_out = (
        a[keep] for a in (visit_trip, store, corridor_at, door_in, door_out)
    )
    # Where and when each trip's last store visit ends.
    last_time = start.copy()
    last_zone = topology.camera_zone[entrance]
    last_store = np.full(n, -1, dtype=np.int64)
    if visit_trip.size:
        is_last = np.r_[visit_trip[1:] != visit_trip[:-1], True]
        last_time[visit_trip[is_last]] = door_out[is_last]
        last_zone[visit_trip[is_last]] = topology.store_zone[store[is_last]]
        last_store[visit_trip[is_last]] = store[is_last]
    exit_median: float | np.ndarray = params.walk_median_seconds
    if walkway is None:
        exit_cam = _exit_by_zone(rng, topology, params, last_zone)
    else:
        exit_cam, exit_walked = _exit_nearby(rng, topology, walkway, entrance, last_store)
        exit_median = np.r_[params.walk_median_seconds + exit_walked / walkway.walking_speed, np.full(n, exit_median)]
    exit_corridor = topology.corridor_of(topology.camera_zone[exit_cam])
    crosses = (topology.camera_zone[exit_cam] != last_zone) & (exit_corridor >= 0)
    walk_exit = np.maximum(1, np.rint(_lognormal(rng, exit_median, params.walk_sigma, 2 * n)))
    walk_exit = walk_exit.astype(np.int64).reshape(2, n)
    exit_corridor_at = last_time + walk_exit[0]
    exit_at = exit_corridor_at + np.where(crosses, walk_exit[1], 0)
    # Assemble the passes.
    visit_corridor = topology.corridor_of(topology.store_zone[store])
    has_corridor = visit_corridor >= 0
    parts_person = [
        person,
        person[visit_trip[has_corridor]],
        person[visit_trip],
        person[visit_trip],
        person[crosses],
        person,
    ]
    parts_camera = [
        entrance,
        visit_corridor[has_corridor],
        topology.store_in[store],
        topology.store_out[store],
        exit_corridor[crosses],
        exit_cam,
    ]
    parts_time = [start, corridor_at[has_corridor], door_in, door_out, exit_corridor_at[crosses], exit_at]
    passes = Passes(np.concatenate(parts_person), np.concatenate(parts_camera), np.concatenate(parts_time))
    return _Trips(passes, StoreVisits(store, door_in, door_out), exit_at)


def simulate_day(rng: np.random.Generator, topology: Topology, params: SimulationParameters, clock: DayClock) -> Day:
    """One day of shoppers: first visits, then the returns of some of them later the same day."""
    walkway = Walkway.of(topology, params)
    arrivals = arrival_times(rng, params, clock)
    persons = arrivals.size
    first = _trips(rng, topology, params, clock, np.arange(persons, dtype=np.int64), arrivals, walkway)
    gap = np.rint(_lognormal(rng, params.return_gap_median_minutes * 60, 0.6, persons)).astype(np.int64)
    comes_back = (rng.random(persons) < params.return_probability) & (first.exit_time + gap < clock.last_entry)
    returners = np.flatnonzero(comes_back)
    second = _trips(
        rng, topology, params, clock, returners.astype(np.int64), (first.exit_time + gap)[returners], walkway
    )
    person = np.concatenate([first.passes.person, second.passes.person])
    camera = np.concatenate([first.passes.camera, second.passes.camera])
    time = np.concatenate([first.passes.time, second.passes.time])
    order = np.lexsort((time, person))
    shares = np.array([params.age_band_shares.get(b, 0.0) for b in REAL_AGE_BANDS])
    return Day(
        clock=clock,
        passes=Passes(person[order], camera[order], time[order]),
        visits=StoreVisits(
            np.concatenate([first.visits.store, second.visits.store]),
            np.concatenate([first.visits.door_in, second.visits.door_in]),
            np.concatenate([first.visits.door_out, second.visits.door_out]),
        ),
        person_age=rng.choice(len(REAL_AGE_BANDS), size=persons, p=shares / shares.sum()),
        person_female=rng.random(persons) < params.female_share,
        persons=persons,
        trips=persons + returners.size,
    )
