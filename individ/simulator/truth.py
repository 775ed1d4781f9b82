"""Ground truth of one simulated day, in the tables the benchmark and the tests read (see the package docstring)."""

from __future__ import annotations

import numpy as np
import polars as pl

from individ.contract import AGE_BANDS, GENDERS
from individ.simulator.sensor_view import SensorDay
from individ.simulator.visitors import Day, Topology

FEMALE, MALE = GENDERS.index("female"), GENDERS.index("male")


def _utc(seconds: pl.Expr) -> pl.Expr:
    return pl.from_epoch(seconds, time_unit="s").dt.replace_time_zone("UTC")


def _camera_names(topology: Topology) -> dict[int, str]:
    return dict(enumerate(topology.camera_ids))


def flows_hourly(day: Day, sensor: SensorDay, topology: Topology, max_lag_seconds: int) -> pl.DataFrame:
    """Ordered same-person pass pairs (A in hour h, then B with 0 < lag <= W), by the hour of the A pass.

    ``pairs`` counts every real pass (the estimand); ``pairs_observed`` only pairs whose two passes were
    both emitted; ``same_group_pairs`` those emitted in the same group (the linkage the estimator sees).
    """
    person, camera, time = day.passes.person, day.passes.camera, day.passes.time
    emitted = ~sensor.pass_missed & ~sensor.pass_lost
    group = sensor.pass_group
    n_cameras = len(topology.camera_ids)
    hours = -(-(int(time.max(initial=sensor.hour0)) + max_lag_seconds + 1 - sensor.hour0) // 3600)
    size = hours * n_cameras * n_cameras
    pairs = np.zeros(size, dtype=np.int64)
    pairs_observed = np.zeros(size, dtype=np.int64)
    same_group_pairs = np.zeros(size, dtype=np.int64)
    for k in range(1, person.size):
        same_person = person[k:] == person[:-k]
        lag = time[k:] - time[:-k]
        in_window = same_person & (lag <= max_lag_seconds)
        if not in_window.any():
            break  # passes are sorted by person then time: larger steps only lengthen the lag
        first = np.flatnonzero(in_window & (lag > 0))
        second = first + k
        hour = (time[first] - sensor.hour0) // 3600
        key = (hour * n_cameras + camera[first]) * n_cameras + camera[second]
        both = emitted[first] & emitted[second]
        pairs += np.bincount(key, minlength=size)
        pairs_observed += np.bincount(key[both], minlength=size)
        same_group_pairs += np.bincount(key[both & (group[first] == group[second])], minlength=size)
    key = np.flatnonzero(pairs)
    names = _camera_names(topology)
    return pl.DataFrame(
        {
            "hour": sensor.hour0 + (key // (n_cameras * n_cameras)) * 3600,
            "from_camera": key // n_cameras % n_cameras,
            "to_camera": key % n_cameras,
            "pairs": pairs[key],
            "pairs_observed": pairs_observed[key],
            "same_group_pairs": same_group_pairs[key],
        },
        schema_overrides={"hour": pl.Int64, "from_camera": pl.Int64, "to_camera": pl.Int64},
    ).with_columns(
        _utc(pl.col("hour")).dt.cast_time_unit("ms"),
        pl.col("from_camera").replace_strict(names, return_dtype=pl.String),
        pl.col("to_camera").replace_strict(names, return_dtype=pl.String),
    )


def store_visits(day: Day, topology: Topology) -> pl.DataFrame:
    """One row per store visit: door-in time, door-out time and dwell."""
    visits = day.visits
    return (
        pl.DataFrame(
            {
                "store_id": np.asarray(topology.stores)[visits.store],
                "door_in": visits.door_in,
                "door_out": visits.door_out,
            }
        )
        .select(
            "store_id",
            _utc(pl.col("door_in")).dt.cast_time_unit("ms").alias("door_in_at"),
            _utc(pl.col("door_out")).dt.cast_time_unit("ms").alias("door_out_at"),
            (pl.col("door_out") - pl.col("door_in")).alias("dwell_seconds"),
        )
        .sort("door_in_at", "store_id")
    )


def footfall_hourly(day: Day, sensor: SensorDay, topology: Topology) -> pl.DataFrame:
    """Passes per camera, direction and hour: the truth and what became of it in the sensor's output.

    real_passes, missed and lost_in_outage count by the hour of the true pass; emitted_real (detections,
    double counts included), double_counts and fictitious by the hour of the emitted timestamp, so that
    occurrences in the landing zone per camera-hour = emitted_real + fictitious.
    """
    passes = day.passes
    true_side = (
        pl.DataFrame(
            {
                "camera": passes.camera,
                "hour": (passes.time - sensor.hour0) // 3600,
                "missed": sensor.pass_missed,
                "lost": sensor.pass_lost,
            }
        )
        .group_by("camera", "hour")
        .agg(
            pl.len().alias("real_passes"),
            pl.col("missed").sum().alias("missed"),
            pl.col("lost").sum().alias("lost_in_outage"),
        )
    )
    emitted_side = (
        pl.DataFrame(
            {
                "camera": sensor.real_camera,
                "hour": (sensor.real_observed_at - sensor.hour0) // 3600,
                "double": sensor.real_is_double,
            }
        )
        .group_by("camera", "hour")
        .agg(pl.len().alias("emitted_real"), pl.col("double").sum().alias("double_counts"))
    )
    fictitious_side = (
        pl.DataFrame(
            {"camera": sensor.fictitious_camera, "hour": (sensor.fictitious_observed_at - sensor.hour0) // 3600}
        )
        .group_by("camera", "hour")
        .agg(pl.len().alias("fictitious"))
    )
    counts = ("real_passes", "missed", "lost_in_outage", "emitted_real", "double_counts", "fictitious")
    directions = dict(enumerate(topology.directions))
    return (
        true_side.join(emitted_side, on=["camera", "hour"], how="full", coalesce=True)
        .join(fictitious_side, on=["camera", "hour"], how="full", coalesce=True)
        .select(
            _utc(sensor.hour0 + pl.col("hour") * 3600).dt.cast_time_unit("ms").alias("hour"),
            pl.col("camera").replace_strict(_camera_names(topology), return_dtype=pl.String).alias("camera_id"),
            pl.col("camera").replace_strict(directions, return_dtype=pl.String).alias("direction"),
            *(pl.col(name).fill_null(0).cast(pl.Int64) for name in counts),
        )
        .sort("hour", "camera_id")
    )


def demographics(day: Day, sensor: SensorDay, topology: Topology) -> pl.DataFrame:
    """True age band and gender of the persons passing each camera per hour (store doors carry the store id)."""
    passes = day.passes
    n_cameras, n_ages, n_genders = len(topology.camera_ids), len(AGE_BANDS), len(GENDERS)
    hour = (passes.time - sensor.hour0) // 3600
    gender = np.where(day.person_female[passes.person], FEMALE, MALE)
    key = ((hour * n_cameras + passes.camera) * n_ages + day.person_age[passes.person]) * n_genders + gender
    persons = np.bincount(key)
    key = np.flatnonzero(persons)
    camera = key // (n_ages * n_genders) % n_cameras
    stores = np.array([store or "" for store in topology.camera_store], dtype=object)[camera]
    return pl.DataFrame(
        {
            "hour": sensor.hour0 + key // (n_cameras * n_ages * n_genders) * 3600,
            "camera_id": np.asarray(topology.camera_ids, dtype=object)[camera],
            "store_id": stores,
            "age_band": np.asarray(AGE_BANDS, dtype=object)[key // n_genders % n_ages],
            "gender": np.asarray(GENDERS, dtype=object)[key % n_genders],
            "persons": persons[key],
        },
        schema_overrides={"camera_id": pl.String, "store_id": pl.String, "age_band": pl.String, "gender": pl.String},
    ).with_columns(
        _utc(pl.col("hour")).dt.cast_time_unit("ms"),
        pl.col("store_id").replace("", None),
    )
