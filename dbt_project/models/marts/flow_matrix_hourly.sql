{{ config(pre_hook="{{ delete_requested_hours('hour_start') }}") }}
-- Estimated flow between two cameras per hour: the number of (pass at A in the hour, later pass at B
-- by the same person within max_lag_minutes) pairs, estimated from group co-occurrences:
--   F = (M - B) / (p - s),  Var(F) = [Var(M) + (dB/ds)^2 sd_s^2] / (p - s)^2 + F^2 sd_p^2 / (p - s)^2
-- with Var(M) = overdispersion * (B - floor part * w) + max(M - B, 0) (1 - p): the fictitious floor's
-- share of B varies only through the time window (see int_flow_hourly_components).
-- The direct_* columns are the same counts within the direct lag D (flow_matrix_hourly_profiled).
with run as (
    select * from {{ ref('int_run_window') }}
),

cameras as (
    select * from {{ ref('int_camera_index') }}
),

calibration as (
    select site_day, p_used, p_used_sd
    from {{ ref('reidentification_calibration') }}
    where calibration_scope = 'all_stores'
),

components as (
    select
        components.*,
        coalesce(run.p_override, calibration.p_used) as p_used,
        case when run.p_override is not null then 0.0 else calibration.p_used_sd end as p_sd
    from {{ ref('int_flow_hourly_components') }} as components
    cross join run
    left join calibration on components.site_day = calibration.site_day
),

estimates as (
    select
        *,
        same_group_pairs - chance_expectation as excess_pairs,
        {{ pair_count_variance('same_group_pairs', 'chance_expectation', 'chance_floor_variance_reduction') }}
            as pair_count_variance,
        {{ flow_estimate('same_group_pairs - chance_expectation') }} as estimated_flow,
        direct_same_group_pairs - direct_chance_expectation as direct_excess_pairs,
        {{ pair_count_variance(
            'direct_same_group_pairs', 'direct_chance_expectation', 'direct_chance_floor_variance_reduction') }}
            as direct_pair_count_variance
    from components
),

with_se as (
    select
        *,
        {{ flow_standard_error() }} as flow_se
    from estimates
)

select
    {{ hour_from_index('with_se.hour_idx') }} as hour_start,
    with_se.site_day,
    origin.camera_id as origin_camera_id,
    destination.camera_id as destination_camera_id,
    origin.role as origin_role,
    destination.role as destination_role,
    origin.store_id as origin_store_id,
    destination.store_id as destination_store_id,
    origin.zone as origin_zone,
    destination.zone as destination_zone,
    with_se.estimated_flow,
    {{ flow_interval_columns() }},
    with_se.flow_se,
    with_se.same_group_pairs,
    with_se.chance_expectation,
    with_se.excess_pairs,
    with_se.time_pairs,
    with_se.p_used,
    with_se.p_sd,
    with_se.chance_rate,
    with_se.chance_rate_sd,
    with_se.chance_rate_sensitivity,
    with_se.pair_count_variance,
    with_se.direct_same_group_pairs,
    with_se.direct_chance_expectation,
    with_se.direct_excess_pairs,
    with_se.direct_pair_count_variance,
    with_se.direct_chance_rate_sensitivity,
    with_se.origin_real as origin_real_passes,
    run.max_lag_minutes,
    cast(run.flow_direct_lag_s / 60 as integer) as direct_lag_minutes
from with_se
cross join run
inner join cameras as origin on with_se.origin_idx = origin.camera_idx
inner join cameras as destination on with_se.destination_idx = destination.camera_idx
