"""What the sensor makes of one simulated day: detections, groups, fictitious persons, demographic counts, heartbeats.

This reproduces the sensor's OUTPUT, not its vision: each real pass is detected or missed, sometimes
counted twice, lost during a camera outage, time-stamped by a camera clock that may be a few seconds
off, and placed in one of 1,000 groups so that two sightings of one person share a group with
probability p. Fictitious persons follow the sensor's own plan (``individ.fictitious``) from the site
configuration's expected traffic, never from what was seen, with directions drawn from the camera's mix fixed
in advance (``direction_mix``), as the sensor draws them. Real passes take the direction the sensor gives them
(``Topology.directions``: 'unknown' without a counting line).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from individ.contract import AGE_BANDS, DIRECTIONS, GENDERS, HEARTBEAT_HOUR_TOTALS, N_GROUPS
from individ.fictitious import (
    DEFAULT_RELEASE_HOLD_SECONDS,
    direction_mix,
    draw_directions,
    draw_fictitious_hour,
    plan_per_group,
    retime_offsets,
)
from individ.simulator.parameters import Imperfections, SimulationParameters
from individ.simulator.visitors import Day, Topology
from individ.site_config import ConfigError, SiteConfig, SmallCellPolicy

UNKNOWN_AGE = AGE_BANDS.index("unknown")
UNKNOWN_GENDER = GENDERS.index("unknown")
FEMALE, MALE = GENDERS.index("female"), GENDERS.index("male")


@dataclass(frozen=True)
class Outage:
    camera: str
    start: int  # epoch seconds, minute-aligned
    end: int  # exclusive
    heartbeats: str  # "down" (heartbeats say so) or "missing" (no heartbeats at all: the sensor was stopped)


@dataclass(frozen=True)
class SensorDay:
    """The sensor's view of one day. ``pass_*`` arrays align with ``Day.passes``."""

    pass_missed: np.ndarray  # bool: the detector missed it
    pass_lost: np.ndarray  # bool: the camera was down
    pass_group: np.ndarray  # int16 group of the emitted occurrence, -1 when not emitted
    # Real occurrences as emitted (detections, double counts included).
    real_camera: np.ndarray
    real_true_time: np.ndarray
    real_observed_at: np.ndarray  # on the camera's clock
    real_group: np.ndarray
    real_is_double: np.ndarray
    # Fictitious occurrences as emitted.
    fictitious_camera: np.ndarray
    fictitious_observed_at: np.ndarray
    fictitious_group: np.ndarray
    fictitious_direction: np.ndarray  # int8 index into contract DIRECTIONS
    hour0: int  # epoch seconds of the first sensor hour
    plan: np.ndarray  # [camera, hour] fictitious persons expected per group
    outages: list[Outage]
    skew_seconds: np.ndarray  # per camera
    demographics: pl.DataFrame  # contract columns except the writer's
    heartbeats: pl.DataFrame


def same_group_home_probability(p: float, n_groups: int = N_GROUPS) -> float:
    """The chance q that a sighting lands in the person's home group so that two sightings share a group with p.

    A sighting is the home group with probability q and a uniformly random group otherwise, so
    P(same) = (q + b)^2 + (G - 1) b^2 with b = (1 - q) / G; solved for q by bisection.
    """
    if p < 1 / n_groups:
        raise ConfigError(f"p = {p} is below the chance level 1/{n_groups}")
    low, high = 0.0, 1.0
    for _ in range(60):
        q = (low + high) / 2
        b = (1 - q) / n_groups
        if (q + b) ** 2 + (n_groups - 1) * b * b < p:
            low = q
        else:
            high = q
    return (low + high) / 2


def _camera_p(site: SiteConfig, params: SimulationParameters) -> np.ndarray:
    ids = [c.id for c in site.cameras]
    unknown = sorted(set(params.p_by_camera) - set(ids))
    if unknown:
        raise ConfigError(f"p_by_camera names unknown cameras {unknown}")
    return np.array([params.p_by_camera.get(i, params.p) for i in ids])


def assign_groups(
    rng: np.random.Generator,
    person: np.ndarray,
    camera: np.ndarray,
    camera_p: np.ndarray,
    linkage: str,
    persons: int,
) -> np.ndarray:
    """Groups for detections sorted by person then time (see ``SimulationParameters.linkage``).

    One key epoch per simulated day: a site whose sensor hours cross a key rotation (UTC midnight for
    24-hour epochs, e.g. in the Americas) would lose linkage across it, which this does not model.
    """
    fresh = rng.integers(0, N_GROUPS, size=person.size).astype(np.int16)
    if linkage == "pairwise":
        home_probability = np.array([same_group_home_probability(p) for p in camera_p])
        home = rng.integers(0, N_GROUPS, size=persons).astype(np.int16)
        at_home = rng.random(person.size) < home_probability[camera]
        return np.where(at_home, home[person], fresh)
    first = np.r_[True, person[1:] != person[:-1]]
    reset = first | (rng.random(person.size) >= camera_p[camera])
    last_reset = np.maximum.accumulate(np.where(reset, np.arange(person.size), 0))
    return fresh[last_reset]


def _outages(
    rng: np.random.Generator, topology: Topology, imperfections: Imperfections, start: int, minutes: int
) -> tuple[list[Outage], np.ndarray]:
    """Random camera outages and a [camera, minute] mask of the minutes they cover."""
    down = np.zeros((len(topology.camera_ids), minutes), dtype=bool)
    outages = []
    for index, camera in enumerate(topology.camera_ids):
        for _ in range(rng.poisson(imperfections.outages_per_camera_day)):
            length = max(1, round(imperfections.outage_median_minutes * np.exp(0.7 * rng.standard_normal())))
            first = int(rng.integers(0, minutes))
            last = min(minutes, first + length)
            mode = imperfections.outage_heartbeats
            if mode == "mixed":
                mode = "down" if rng.random() < 0.5 else "missing"
            down[index, first:last] = True
            outages.append(Outage(camera, start + 60 * first, start + 60 * last, mode))
    return outages, down


def _perceived_attributes(
    rng: np.random.Generator, age: np.ndarray, female: np.ndarray, imperfections: Imperfections
) -> tuple[np.ndarray, np.ndarray]:
    """The classifier's guess: sometimes one age band off, sometimes the wrong gender, sometimes unknown."""
    n = age.size
    shift = np.where(rng.random(n) < imperfections.age_error_rate, rng.choice([-1, 1], size=n), 0)
    guessed_age = np.clip(age + shift, 0, UNKNOWN_AGE - 1)
    guessed_age = np.where(rng.random(n) < imperfections.attribute_unknown_rate, UNKNOWN_AGE, guessed_age)
    is_female = female ^ (rng.random(n) < imperfections.gender_error_rate)
    gender = np.where(is_female, FEMALE, MALE)
    gender = np.where(rng.random(n) < imperfections.attribute_unknown_rate, UNKNOWN_GENDER, gender)
    return guessed_age, gender


def demographic_counts(
    camera: np.ndarray,
    observed_at: np.ndarray,
    age: np.ndarray,
    gender: np.ndarray,
    site: SiteConfig,
) -> pl.DataFrame:
    """Counts per camera, window, age band and gender, with the site's small-cell policy applied."""
    privacy = site.privacy
    window = privacy.demographics_window_minutes * 60
    counts = (
        pl.DataFrame({"camera": camera, "window_start": (observed_at // window) * window, "age": age, "gender": gender})
        .group_by("camera", "window_start", "age", "gender")
        .agg(pl.len().alias("count"))
    )
    small = pl.col("count") < privacy.min_cell_size
    unknown_cell = (pl.col("age") == UNKNOWN_AGE) & (pl.col("gender") == UNKNOWN_GENDER)
    if privacy.small_cells is SmallCellPolicy.MERGE_UNKNOWN:
        merged = counts.with_columns(
            pl.when(small & ~unknown_cell).then(UNKNOWN_AGE).otherwise(pl.col("age")).alias("age"),
            pl.when(small & ~unknown_cell).then(UNKNOWN_GENDER).otherwise(pl.col("gender")).alias("gender"),
        )
        counts = merged.group_by("camera", "window_start", "age", "gender").agg(pl.col("count").sum())
    counts = counts.filter(pl.col("count") >= privacy.min_cell_size)
    return counts.sort("camera", "window_start", "age", "gender").select(
        pl.col("camera"),
        pl.col("window_start"),
        pl.lit(privacy.demographics_window_minutes, pl.Int16).alias("window_minutes"),
        pl.col("age").replace_strict(dict(enumerate(AGE_BANDS)), return_dtype=pl.String).alias("age_band"),
        pl.col("gender").replace_strict(dict(enumerate(GENDERS)), return_dtype=pl.String).alias("gender"),
        pl.col("count").cast(pl.Int32),
    )


def _heartbeats(
    rng: np.random.Generator,
    site: SiteConfig,
    start: int,
    down: np.ndarray,
    missing: np.ndarray,
    real_per_minute: np.ndarray,
    fictitious_per_minute: np.ndarray,
    plan_per_minute: np.ndarray,
) -> pl.DataFrame:
    """One heartbeat per camera-minute with plausible frame, detection and latency figures, as the sensor writes them.

    The fields that follow the persons (``HEARTBEAT_HOUR_TOTALS``) are camera-hour totals on the hour's last row
    the sensor wrote (``sensors.emitter``). A "missing" outage is the sensor process not running: it stopped
    at the outage's start as on shutdown, writing the hour's totals so far on its last minute, and counts the
    rest of the hour from zero after its restart. So each stretch of minutes the sensor ran in an hour carries
    its totals on its last row. (A crash would lose them; the analytics fall back to the plan then.)
    """
    n_cameras, minutes = down.shape
    fps = np.array([c.fps_cap for c in site.cameras])[:, None]
    shape = (n_cameras, minutes)
    frames_read = np.maximum(0, np.rint(fps * 60) - rng.poisson(0.5, shape))
    frames_corrupt = rng.poisson(0.01, shape)
    load = real_per_minute + fictitious_per_minute
    frames_dropped = rng.binomial(frames_read.astype(np.int64), np.minimum(0.5, 0.001 + 0.0002 * real_per_minute))
    frames_processed = np.maximum(0, frames_read - frames_dropped - frames_corrupt)
    persons_detected = real_per_minute + rng.poisson(0.3 * real_per_minute + 0.05)
    latency_p50 = 25.0 + 0.2 * load + rng.gamma(4.0, 1.5, shape)
    latency_p99 = latency_p50 * (2.0 + rng.gamma(2.0, 0.4, shape))
    status = np.where(down, "down", "ok")
    zero = down.astype(np.int64) * 0

    def when_up(values: np.ndarray) -> np.ndarray:
        return np.where(down, zero, values).astype(np.int64).ravel()

    minute_start = start + 60 * np.arange(minutes)
    per_minute = pl.DataFrame(
        {
            "camera": np.repeat(np.arange(n_cameras), minutes),
            "minute_start": np.tile(minute_start, n_cameras),
            "frames_read": when_up(frames_read),
            "frames_processed": when_up(frames_processed),
            "frames_dropped": when_up(frames_dropped),
            "frames_corrupt": when_up(frames_corrupt),
            "persons_detected": when_up(persons_detected),
            "occurrences_emitted": when_up(real_per_minute),
            "fictitious_emitted": fictitious_per_minute.astype(np.int64).ravel(),  # rows left in down minutes too
            "fictitious_plan_per_group": plan_per_minute.ravel(),
            "stream_status": status.ravel(),
            "latency_p50_ms": np.where(down, np.nan, latency_p50).ravel(),
            "latency_p99_ms": np.where(down, np.nan, latency_p99).ravel(),
            "lsh_key_epoch": np.tile(minute_start // (site.privacy.key_rotation_hours * 3600), n_cameras),
        }
    )
    per_minute = per_minute.with_columns(pl.col("latency_p50_ms", "latency_p99_ms").fill_nan(None))
    stretch, closing = _stretches(minute_start // 3600, ~missing)
    written = ~missing.ravel()
    return _hour_totals_on_closing_rows(per_minute.filter(pl.Series(written)), stretch[written], closing[written])


def _missing(site: SiteConfig, start: int, shape: tuple[int, ...], outages: list[Outage]) -> np.ndarray:
    """The [camera, minute] mask of the outages without heartbeats (the sensor was not running)."""
    missing = np.zeros(shape, dtype=bool)
    camera_index = {camera.id: i for i, camera in enumerate(site.cameras)}
    for outage in outages:
        if outage.heartbeats == "missing":
            index = camera_index[outage.camera]
            missing[index, (outage.start - start) // 60 : (outage.end - start) // 60] = True
    return missing


def _stretches(hour: np.ndarray, written: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per [camera, minute], raveled: the stretch of consecutive written minutes within one hour it belongs to,
    and whether it is the stretch's last minute (the row that carries the stretch's totals)."""
    n_cameras = written.shape[0]
    new_hour = np.r_[True, hour[1:] != hour[:-1]]
    after_gap = np.c_[np.ones((n_cameras, 1), dtype=bool), ~written[:, :-1]]
    starts = written & (new_hour[None, :] | after_gap)
    hour_ends = np.r_[hour[1:] != hour[:-1], True]
    before_gap = np.c_[~written[:, 1:], np.ones((n_cameras, 1), dtype=bool)]
    ends = written & (hour_ends[None, :] | before_gap)
    return np.cumsum(starts.ravel()) - 1, ends.ravel()


def _hour_totals_on_closing_rows(per_minute: pl.DataFrame, stretch: np.ndarray, closing: np.ndarray) -> pl.DataFrame:
    """Sum the person-following counts of each stretch onto its closing row (0 elsewhere); its latencies come
    from the stretch's minutes (no frame-level samples here: the median of the minutes' p50 and the 90th
    percentile of their p99 stand in for the percentiles over all frames), null elsewhere."""
    counts = [name for name in HEARTBEAT_HOUR_TOTALS if not name.startswith("latency_")]
    totals = (
        per_minute.with_columns(stretch=pl.Series(stretch))
        .group_by("stretch", maintain_order=True)
        .agg(
            pl.col(counts).sum(),
            pl.col("latency_p50_ms").median().round(1),
            pl.col("latency_p99_ms").quantile(0.9, interpolation="linear").round(1),
        )
    )
    index = pl.Series(np.searchsorted(totals["stretch"].to_numpy(), stretch))
    is_closing = pl.Series(closing)
    return per_minute.with_columns(
        pl.when(is_closing).then(totals[name].gather(index)).otherwise(0 if name in counts else None).alias(name)
        for name in HEARTBEAT_HOUR_TOTALS
    )


def _fictitious(
    rng: np.random.Generator,
    retime_rng: np.random.Generator,
    site: SiteConfig,
    hour0: int,
    sensor_start: int,
    sensor_end: int,
    down: np.ndarray,
    missing: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The plan per camera and hour (from the site's expected traffic) and the fictitious passes drawn from it.

    As the sensor does (``sensors.emitter``), the hour the sensor starts in gets its whole plan over the part
    after the start, and the hour it stops in gets the rest of its plan re-timed into the last release hold
    before the stop (the sensor's default hold). Rows planned in a minute a camera is down are re-timed into later
    minutes of their hour (``_out_of_outages``, drawn from ``retime_rng`` so the other draws stay as they were);
    those left in the hour's last minute stay there while the heartbeats say down, and are lost while the sensor
    was not running (``missing``). Returns (plan [camera, hour], camera, time, group).
    """
    n_cameras, minutes = down.shape
    hours = -(-(sensor_start + 60 * minutes - hour0) // 3600)
    plan = np.zeros((n_cameras, hours))
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for h in range(hours):
        hour_start = hour0 + 3600 * h
        local_hour = dt.datetime.fromtimestamp(hour_start, site.tz).hour
        for c, config in enumerate(site.cameras):
            plan[c, h] = plan_per_group(config.expected_passes(local_hour), site.privacy.fictitious.min_members)
            offsets, groups = draw_fictitious_hour(rng, plan[c, h], covered_from=max(0, sensor_start - hour_start))
            at = hour_start + offsets.astype(np.int64)
            after_stop = at >= sensor_end
            if after_stop.any():
                first = max(hour_start, sensor_start, sensor_end - DEFAULT_RELEASE_HOLD_SECONDS)
                at[after_stop] = retime_offsets(rng, int(after_stop.sum()), first, sensor_end - 1)
            parts.append((np.full(groups.size, c), at, groups))
    camera, at, group = (np.concatenate([part[i] for part in parts]) for i in range(3))
    at = _out_of_outages(retime_rng, camera, at, down, sensor_start, sensor_end)
    minute = (at - sensor_start) // 60
    live = (minute >= 0) & (minute < minutes)
    live[live] = ~missing[camera[live], minute[live]]
    return plan, camera[live], at[live], group[live]


def _out_of_outages(
    rng: np.random.Generator, camera: np.ndarray, at: np.ndarray, down: np.ndarray, sensor_start: int, sensor_end: int
) -> np.ndarray:
    """The sensor's rule for fictitious rows due in a down minute: re-timed uniformly into their hour after their
    minute, again and again while they land in a down minute, until they reach the hour's (or the sensor's) last
    minute, where they stay: a row in a down minute would be certainly fictitious, and the plan's count is kept."""
    at = at.copy()
    minutes = down.shape[1]
    limit = np.minimum((at // 3600 + 1) * 3600, sensor_end)  # each row's hour end, or the stop
    while True:
        minute = (at - sensor_start) // 60
        in_range = (minute >= 0) & (minute < minutes)
        later = sensor_start + 60 * (minute + 1)
        move = np.zeros(at.size, dtype=bool)
        move[in_range] = down[camera[in_range], minute[in_range]]
        move &= later < limit
        if not move.any():
            return at
        at[move] = rng.integers(later[move], limit[move])


def _fictitious_directions(rng: np.random.Generator, site: SiteConfig, camera: np.ndarray) -> np.ndarray:
    """Each fictitious row's direction (index into DIRECTIONS), drawn from its camera's fixed mix as the sensor does."""
    index = {name: i for i, name in enumerate(DIRECTIONS)}
    direction = np.empty(camera.size, dtype=np.int8)
    for c, config in enumerate(site.cameras):
        here = np.flatnonzero(camera == c)
        direction[here] = [index[name] for name in draw_directions(rng, direction_mix(config), here.size)]
    return direction


def observe_day(
    rng: np.random.Generator,
    site: SiteConfig,
    topology: Topology,
    params: SimulationParameters,
    day: Day,
    fictitious_rng: np.random.Generator,
) -> SensorDay:
    """Turn a day of reality into what the site's sensors emit.

    The fictitious rows' re-timing out of outage minutes and their directions come from ``fictitious_rng`` alone,
    so they leave every other draw of a seed as it was.
    """
    imperfections = params.imperfections.effective()
    clock = day.clock
    passes = day.passes
    n_cameras = len(topology.camera_ids)
    minutes = (clock.sensor_end - clock.sensor_start) // 60
    outages, down = _outages(rng, topology, imperfections, clock.sensor_start, minutes)
    skew = np.rint(rng.normal(0.0, imperfections.clock_skew_sd_seconds, n_cameras)).astype(np.int64)
    # Detection: missed, lost in an outage, or seen (and then perhaps counted twice).
    minute_of_pass = np.clip((passes.time - clock.sensor_start) // 60, 0, minutes - 1)
    missed = rng.random(passes.time.size) < imperfections.missed_detection_rate
    lost = ~missed & down[passes.camera, minute_of_pass]
    seen = np.flatnonzero(~missed & ~lost)
    doubled = seen[rng.random(seen.size) < imperfections.double_count_rate]
    source = np.concatenate([seen, doubled])
    is_double = np.r_[np.zeros(seen.size, dtype=bool), np.ones(doubled.size, dtype=bool)]
    true_time = passes.time[source] + np.where(is_double, rng.integers(1, 4, size=source.size), 0)
    order = np.lexsort((true_time, passes.person[source]))
    source, is_double, true_time = source[order], is_double[order], true_time[order]
    camera = passes.camera[source]
    groups = assign_groups(rng, passes.person[source], camera, _camera_p(site, params), params.linkage, day.persons)
    pass_group = np.full(passes.time.size, -1, dtype=np.int16)
    pass_group[source[~is_double]] = groups[~is_double]
    observed_at = true_time + skew[camera]
    hour0 = (clock.sensor_start // 3600) * 3600
    missing = _missing(site, clock.sensor_start, down.shape, outages)
    plan, fict_camera, fict_at, fict_group = _fictitious(
        rng, fictitious_rng, site, hour0, clock.sensor_start, clock.sensor_end, down, missing
    )
    # Demographics of what was detected, as the classifier perceives it.
    person = passes.person[source]
    age, gender = _perceived_attributes(rng, day.person_age[person], day.person_female[person], imperfections)
    demographics = demographic_counts(camera, observed_at, age, gender, site)
    # Heartbeats count per camera-minute on the camera's own clock.
    real_minute = np.clip((observed_at - clock.sensor_start) // 60, 0, minutes - 1)
    real_per_minute = np.bincount(camera * minutes + real_minute, minlength=n_cameras * minutes)
    fict_per_minute = np.bincount(
        fict_camera * minutes + (fict_at - clock.sensor_start) // 60, minlength=n_cameras * minutes
    )
    minute_hour = (clock.sensor_start + 60 * np.arange(minutes) - hour0) // 3600
    heartbeats = _heartbeats(
        rng,
        site,
        clock.sensor_start,
        down,
        missing,
        real_per_minute.reshape(n_cameras, minutes),
        fict_per_minute.reshape(n_cameras, minutes),
        plan[:, minute_hour],
    )
    return SensorDay(
        pass_missed=missed,
        pass_lost=lost,
        pass_group=pass_group,
        real_camera=camera,
        real_true_time=true_time,
        real_observed_at=observed_at,
        real_group=groups,
        real_is_double=is_double,
        fictitious_camera=fict_camera,
        fictitious_observed_at=fict_at,
        fictitious_group=fict_group,
        fictitious_direction=_fictitious_directions(fictitious_rng, site, fict_camera),
        hour0=hour0,
        plan=plan,
        outages=outages,
        skew_seconds=skew,
        demographics=demographics,
        heartbeats=heartbeats,
    )
