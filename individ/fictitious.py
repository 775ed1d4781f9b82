"""The fictitious-person plan, shared by the sensor and the simulator.

Fictitious occurrences keep every (camera, hour, group) cell from being small: the product's claim is
anonymity at least that of microaggregation into groups of 3, i.e. every stored cell that holds a real
person holds at least ``min_members`` events that nobody can tell apart.

The plan is fixed in advance from *expected* traffic, never topped up from what was seen: data-dependent
top-ups bias flow estimates (-11 % at 1,000 visitors/h, -81 % at 200/h in the feasibility study). Per
group and camera-hour the sensor adds a fixed floor of ``ceil(min_members) - 1`` fictitious persons, so a
cell with one real person already reaches the minimum, plus Poisson(extra) where expected traffic is too
low to fill the cell on average (extra = max(0, min_members - floor - expected real per group)).
A Poisson plan alone leaves about 39 % of occupied cells under 3 members; the floor makes the claim hold
in every cell. Knowing the floor tells an attacker how many real persons a cell holds, never which of its
indistinguishable events they are. The plan's mean (floor + extra) and the number added go out in
heartbeats so the analytics can correct counts and chance expectations.

Indistinguishable means in every column and in how rows are delivered:

* time: a camera-hour's plan is spread over the part of the hour the camera covers (from its start; at a
  clean stop the rows not yet due are re-timed into the part not yet released, ``retime_offsets``), so the
  floor holds in the hours a sensor starts and stops too. A planned row due in a minute whose heartbeat says
  the stream was not 'ok' (where no real pass can be) is re-timed into a later minute of its hour instead; only
  rows in the hour's last minute (or due at a close) stay, the residual;
* direction: drawn from a per-camera mix fixed in advance (``direction_mix``), which includes 'unknown' and
  the opposite direction wherever a real pass can have them. Where the real mix differs from the configured
  one, a row's direction still shifts the odds that it is real (statistically), but never makes it certain;
* delivery: the sensor releases every row, real or fictitious, by closed time slices only, a fixed hold
  after its time (``DEFAULT_RELEASE_HOLD_SECONDS``), so which segment holds a row says nothing about its kind.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from individ.contract import N_GROUPS
from individ.site_config import Camera, CameraRole, Direction

# Rows are released this long after their time, by closed time slices: longer than a real pass ever takes to
# reach the emitter (a track ends ``max_missing_seconds`` after its person was last seen; a person lingering
# after crossing the counting line is handed on at half the hold). The sensor's setting defaults to it
# (``sensor.emission.release_hold_seconds``); the simulator, which has no sensor settings, uses it as is.
DEFAULT_RELEASE_HOLD_SECONDS = 120

# Shares of fictitious rows per direction at a camera with a counting line, by role: mostly the role's own
# direction, some the opposite (a person walking against the flow) and some 'unknown' (crossed and came
# back, or never crossed), as real passes can be. Fixed in advance, never fitted to what was seen.
DEFAULT_DIRECTION_MIX: dict[CameraRole, dict[Direction, float]] = {
    CameraRole.ENTRANCE: {"in": 0.85, "out": 0.05, "unknown": 0.10},
    CameraRole.STORE_DOOR_IN: {"in": 0.85, "out": 0.05, "unknown": 0.10},
    CameraRole.EXIT: {"in": 0.05, "out": 0.85, "unknown": 0.10},
    CameraRole.STORE_DOOR_OUT: {"in": 0.05, "out": 0.85, "unknown": 0.10},
    CameraRole.CORRIDOR: {"in": 0.45, "out": 0.45, "unknown": 0.10},
}
# Without a counting line the tracker cannot tell a direction: every real pass is 'unknown'.
NO_LINE_MIX: dict[Direction, float] = {"unknown": 1.0}


def fictitious_floor(min_members: float) -> int:
    """Fictitious persons added to every group in every camera-hour, whatever the traffic."""
    return max(0, math.ceil(min_members) - 1)


def plan_per_group(expected_real_passes: float, min_members: float, n_groups: int = N_GROUPS) -> float:
    """Expected fictitious persons per group in one camera-hour (the figure published in heartbeats)."""
    return max(float(fictitious_floor(min_members)), min_members - expected_real_passes / n_groups)


def draw_fictitious_hour(
    rng: np.random.Generator, per_group: float, n_groups: int = N_GROUPS, covered_from: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one camera-hour of fictitious persons: (second offsets within the hour, group ids).

    Each group gets ``floor(per_group)`` persons plus Poisson(the fractional rest), so the mean is the
    published plan and the floor holds in every cell. Offsets are uniform over the covered part of the
    hour, ``[covered_from, 3600)`` (a sensor starting mid-hour still gives that hour's cells the floor), and
    returned sorted so a live sensor can emit them as time passes.
    """
    if not 0 <= covered_from < 3600:
        raise ValueError(f"covered_from must be a second of the hour (0..3599), not {covered_from}")
    fixed = math.floor(per_group)
    counts = fixed + rng.poisson(per_group - fixed, size=n_groups)
    groups = np.repeat(np.arange(n_groups, dtype=np.int16), counts)
    offsets = rng.integers(covered_from, 3600, size=groups.size, dtype=np.int32)
    order = np.argsort(offsets, kind="stable")
    return offsets[order], groups[order]


def retime_offsets(rng: np.random.Generator, count: int, first: int, last: int) -> np.ndarray:
    """New sorted second offsets, uniform over ``[first, last]``, for planned rows that cannot leave at their time.

    At a clean stop the rest of the hour's plan goes into the part of the hour not yet released, and a row due in
    a minute the stream was not 'ok' into a later part of its hour, so every cell of that hour keeps the floor.
    """
    if last < first:
        raise ValueError(f"empty re-timing window [{first}, {last}]")
    return np.sort(rng.integers(first, last + 1, size=count, dtype=np.int64))


def direction_mix(camera: Camera) -> dict[Direction, float]:
    """The shares of fictitious rows per direction at this camera: configured, else by role and counting line."""
    if camera.fictitious_directions is not None:
        return dict(camera.fictitious_directions)
    if camera.counting_line is None:
        return dict(NO_LINE_MIX)
    return dict(DEFAULT_DIRECTION_MIX[camera.role])


def draw_directions(rng: np.random.Generator, mix: Mapping[Direction, float], size: int) -> list[str]:
    """``size`` directions drawn independently from ``mix`` (a data-independent draw, like the plan itself)."""
    names = sorted(mix)
    shares = np.array([mix[name] for name in names], dtype=np.float64)
    return [names[i] for i in rng.choice(len(names), size=size, p=shares / shares.sum())]
