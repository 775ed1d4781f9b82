{{ config(pre_hook="{{ delete_requested_hours('hour_start') }}") }}
-- Estimated flow between two cameras per hour: the number of (pass at A in the hour, later pass at B
-- by the same person within max_lag_minutes) pairs, estimated from group co-occurrences:
--   F = (M - B) / (p - s),  Var(F) = [Var(M) + (dB/ds)^2 sd_s^2] / (p - s)^2 + F^2 sd_p^2 / (p - s)^2
-- with Var(M) = overdispersion * (B - floor part * w) + max(M - B, 0) (1 - p): the fictitious floor's
-- share of B varies only through the time window (see int_flow_hourly_components).
-- The direct_* columns are the same counts within the direct lag D (flow_matrix_hourly_profiled).
-- Double counts (double_count_rates: d, the share of a camera's real passes that the sensor emitted twice):
-- a doubled pass doubles its person's same-group pairs, so the excess is scaled by
--   c = (1 - d_A)(1 - d_B)
-- and for a camera with itself (A -> A) the excess of the pairs within double_count_max_lag_seconds, the
-- (original, double) pairs themselves (int_double_count_pairs), is removed first:
--   excess_pairs = c (M - B - X),  X = (M_L - B_L) if A = B else 0,  estimated_flow = excess_pairs / (p - s)
-- same_group_pairs and chance_expectation stay the raw M and B. c's uncertainty adds F^2 Var(c) / c^2.
-- is_provisional: s or p of the hour's day is a stand-in (chance_rate_method, p_source; macro is_provisional).
with run as (
    select * from {{ ref('int_run_window') }}
),

cameras as (
    select * from {{ ref('int_camera_index') }}
),

p_by_day as (
    {{ p_used_by_day() }}
),

-- Per camera and day: the share of real passes kept (1 - d) and its relative variance (sd_d / (1 - d))^2.
doubles as (
    select
        cameras.camera_idx,
        rates.site_day,
        rates.is_corrected,
        1 - rates.double_count_rate as kept_share,
        power(rates.double_count_rate_sd / (1 - rates.double_count_rate), 2) as kept_share_relative_variance
    from {{ ref('double_count_rates') }} as rates
    inner join cameras on rates.camera_id = cameras.camera_id
),

components as (
    select
        components.* exclude (chance_rate_sensitivity, direct_chance_rate_sensitivity),
        p_by_day.p_used,
        p_by_day.p_sd,
        p_by_day.p_source,
        p_by_day.chance_rate_method,
        case
            when components.origin_idx = components.destination_idx and origin_doubles.is_corrected
                then coalesce(self_pairs.excess_pairs, 0)
            else 0
        end as double_count_excess_pairs,
        coalesce(origin_doubles.kept_share, 1) * coalesce(destination_doubles.kept_share, 1) as double_count_factor,
        -- Var(c) / c^2: the two cameras' relative variances (the same camera's twice over when A = B).
        case
            when components.origin_idx = components.destination_idx then
                4 * coalesce(origin_doubles.kept_share_relative_variance, 0)
            else
                coalesce(origin_doubles.kept_share_relative_variance, 0)
                + coalesce(destination_doubles.kept_share_relative_variance, 0)
        end as double_count_factor_relative_variance,
        components.chance_rate_sensitivity as raw_chance_rate_sensitivity,
        components.direct_chance_rate_sensitivity as raw_direct_chance_rate_sensitivity
    from {{ ref('int_flow_hourly_components') }} as components
    left join p_by_day on components.site_day = p_by_day.site_day
    left join doubles as origin_doubles
        on components.origin_idx = origin_doubles.camera_idx and components.site_day = origin_doubles.site_day
    left join doubles as destination_doubles
        on components.destination_idx = destination_doubles.camera_idx
        and components.site_day = destination_doubles.site_day
    left join {{ ref('int_double_count_pairs') }} as self_pairs
        on components.origin_idx = self_pairs.camera_idx and components.hour_idx = self_pairs.hour_idx
),

-- Excess, its variance and its sensitivity to s are all net of the double counts (scaled by c).
estimates as (
    select
        *,
        double_count_factor * (same_group_pairs - chance_expectation - double_count_excess_pairs) as excess_pairs,
        power(double_count_factor, 2)
            * {{ pair_count_variance('same_group_pairs', 'chance_expectation', 'chance_floor_variance_reduction') }}
            as pair_count_variance,
        double_count_factor * raw_chance_rate_sensitivity as chance_rate_sensitivity,
        {{ flow_estimate(
            'double_count_factor * (same_group_pairs - chance_expectation - double_count_excess_pairs)') }}
            as estimated_flow,
        double_count_factor * (direct_same_group_pairs - direct_chance_expectation - double_count_excess_pairs)
            as direct_excess_pairs,
        power(double_count_factor, 2)
            * {{ pair_count_variance(
                'direct_same_group_pairs', 'direct_chance_expectation', 'direct_chance_floor_variance_reduction') }}
            as direct_pair_count_variance,
        double_count_factor * raw_direct_chance_rate_sensitivity as direct_chance_rate_sensitivity
    from components
),

with_se as (
    select
        *,
        {{ flow_standard_error(
            pair_count_variance='pair_count_variance'
                ~ ' + power(excess_pairs, 2) * double_count_factor_relative_variance') }} as flow_se
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
    {{ is_provisional('with_se.chance_rate_method', 'with_se.p_source') }} as is_provisional,
    with_se.same_group_pairs,
    with_se.chance_expectation,
    with_se.excess_pairs,
    with_se.time_pairs,
    with_se.p_used,
    with_se.p_sd,
    with_se.p_source,
    with_se.chance_rate,
    with_se.chance_rate_sd,
    with_se.chance_rate_method,
    with_se.chance_rate_sensitivity,
    with_se.pair_count_variance,
    with_se.direct_same_group_pairs,
    with_se.direct_chance_expectation,
    with_se.direct_excess_pairs,
    with_se.direct_pair_count_variance,
    with_se.direct_chance_rate_sensitivity,
    with_se.double_count_excess_pairs,
    with_se.double_count_factor,
    with_se.double_count_factor * sqrt(with_se.double_count_factor_relative_variance) as double_count_factor_sd,
    with_se.origin_real as origin_real_passes,
    run.max_lag_minutes,
    cast(run.flow_direct_lag_s / 60 as integer) as direct_lag_minutes
from with_se
cross join run
inner join cameras as origin on with_se.origin_idx = origin.camera_idx
inner join cameras as destination on with_se.destination_idx = destination.camera_idx
