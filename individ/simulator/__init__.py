"""The mall simulator: realistic shoppers on a site configuration, the sensors' contract v1 output, and ground truth.

The model (``SimulationParameters`` holds every figure): new visitors arrive during opening hours
(local time of the site) at a flat rate plus a lunch and an evening peak, averaging
``visitors_per_hour``; each enters by an entrance camera, visits 1 + Poisson(1.7) distinct stores
(popularity-weighted), passing the corridor camera of the store's zone on the way, the door-in and,
after a lognormal dwell (median 12 min), the door-out camera; then leaves by an exit (usually in the
zone it is in). Some come back later the same day. Opt-in, routes follow the mall's geography: with
``store_positions`` and ``gate_positions`` (metres along a walkway) each next store is drawn with weight
popularity x exp(-distance / ``route_distance_scale_m``), the exit likewise by distance, and a walk's
median grows by distance / ``walking_speed_m_per_s``; without positions the routes are exactly as
above (same seed, same day). The sensor side (``sensor_view``) applies the
group linkage with probability p, the fictitious plan, classifier errors, small-cell policy and
imperfections; ``calibration`` can set the site's expected traffic to the simulated level.

``simulate(site, params, data, start, days, seed)`` writes events only through
``individ.contract.LandingZone.write`` into ``<data>/landing`` (one simulated sensor per zone, one segment
per sensor, stream and 5 minutes, rows shuffled, whole-second UTC timestamps) and the ground truth
apart into ``<data>/truth/``:

``true_flows_hourly.parquet``
    hour (UTC, timestamp ms), from_camera, to_camera, pairs, pairs_observed, same_group_pairs.
    ``pairs`` is the estimand: ordered pairs of passes of the SAME person, first at from_camera in
    ``hour``, then at to_camera with 0 < lag <= flows.max_lag_minutes, over every real pass (missed
    ones included, double counts excluded). ``pairs_observed``: both passes were emitted;
    ``same_group_pairs``: emitted in the same group.
``true_flows_daily.parquet``
    date (the simulated local date), from_camera, to_camera and the same three sums over the day.
``true_store_visits.parquet``
    store_id, door_in_at, door_out_at (UTC), dwell_seconds: one row per visit (dwell attributed to the
    hour of door_in_at).
``true_footfall_hourly.parquet``
    hour, camera_id, direction (the real passes', as the sensor gives it: 'unknown' without a counting line),
    real_passes, missed, lost_in_outage (by the true pass's hour),
    emitted_real (detections incl. double counts), double_counts, fictitious (by the emitted
    timestamp's hour): occurrences in the landing zone per camera-hour = emitted_real + fictitious.
``true_demographics.parquet``
    hour, camera_id, store_id (door cameras; null elsewhere), age_band, gender, persons: the TRUE
    attributes of every real pass (the sensor's output also has classifier errors and small-cell merging).
``deliveries.parquet``
    stream, sensor_id, segment_id, window_start, delivered_at (simulated), late, duplicate: every write.
``meta.json``
    seed, p, p_by_camera, linkage, visitors_per_hour, max_lag_minutes, n_groups, chance_same_group,
    the imperfection rates applied, per day the counts (persons, trips, real passes, missed, lost,
    double counts, fictitious, occurrences), outages and clock skews, segment counts, all parameters.

Deterministic for a seed: the same arguments produce the same files and segment ids.
"""

from individ.simulator.parameters import Imperfections, SimulationParameters, load_simulation_parameters
from individ.simulator.run import TRUTH_TABLES, SimulationResult, simulate

__all__ = [
    "TRUTH_TABLES",
    "Imperfections",
    "SimulationParameters",
    "SimulationResult",
    "load_simulation_parameters",
    "simulate",
]
