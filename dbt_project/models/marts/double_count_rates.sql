{{ config(pre_hook="{{ delete_requested_days('site_day') }}") }}
-- The sensor's double counts (a pass emitted twice a moment later: a split track) per camera and site-local
-- day, estimated from same-group pairs at one camera at most double_count_max_lag_seconds apart:
--   d = e / (p - s),  e = (M_L - B_L) / R  (int_double_count_pairs, int_double_count_rates_daily)
-- the share of the camera's real passes that are doubles. Assumes a double lands in its original's group with
-- the same probability p as any other re-sighting of a person (the pairwise linkage); if a real sensor's split
-- tracks share a group more often (p' > p), d comes out p'/p too high and every correction over-corrects by
-- that ratio. footfall_hourly, the flow marts, reidentification_calibration and dwell_lag_histogram apply the
-- applied rate double_count_rate (0 when the site shows no double counts, see is_corrected).
with run as (
    select * from {{ ref('int_run_window') }}
),

p_by_day as (
    {{ p_used_by_day() }}
),

rates as (
    select doubles.*, p_by_day.chance_rate, p_by_day.p_used, p_by_day.p_sd
    from {{ ref('int_double_count_rates_daily') }} as doubles
    cross join run
    inner join p_by_day on doubles.site_day = p_by_day.site_day
    where doubles.site_day between run.first_day and run.last_day
),

converted as (
    select
        *,
        case when p_used > chance_rate then 1 / (p_used - chance_rate) end as per_excess
    from rates
)

select
    converted.site_day,
    cameras.camera_id,
    cameras.role as camera_role,
    cameras.store_id,
    cameras.zone,
    converted.real_passes,
    converted.same_group_pairs,
    converted.time_pairs,
    converted.chance_expectation,
    converted.excess_pairs,
    converted.excess_per_pass * converted.per_excess as camera_double_count_rate,
    converted.excess_per_pass_sd * converted.per_excess as camera_double_count_rate_sd,
    converted.site_excess_per_pass * converted.per_excess as site_double_count_rate,
    converted.site_excess_per_pass_sd * converted.per_excess as site_double_count_rate_sd,
    converted.site_excess_z,
    converted.camera_weight,
    converted.is_corrected and converted.per_excess is not null as is_corrected,
    coalesce(converted.applied_excess_per_pass * converted.per_excess, 0) as double_count_rate,
    -- The rate's own noise and p's relative uncertainty (d = e / (p - s)).
    coalesce(
        sqrt(
            power(converted.applied_excess_per_pass_sd * converted.per_excess, 2)
            + power(converted.applied_excess_per_pass * converted.per_excess * converted.p_sd * converted.per_excess, 2)
        ),
        0
    ) as double_count_rate_sd,
    coalesce(converted.applied_excess_per_pass * converted.per_excess, 0) * converted.real_passes
        as estimated_double_counts,
    converted.p_used,
    converted.chance_rate,
    {{ var('double_count_max_lag_seconds') }} as max_lag_seconds
from converted
inner join {{ ref('int_camera_index') }} as cameras on converted.camera_idx = cameras.camera_idx
