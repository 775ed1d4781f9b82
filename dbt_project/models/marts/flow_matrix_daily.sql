{{ config(pre_hook="{{ delete_requested_days('site_day') }}") }}
-- Estimated flow between two cameras per site-local day: the sum of the day's hourly flows, with an
-- interval that adds the hourly pair-count variances and treats s and p (one value per day) as
-- common to all hours:
--   Var(F) = [sum Var(M_h) + (sum dB_h/ds)^2 sd_s^2] / (p - s)^2 + F^2 sd_p^2 / (p - s)^2
-- The hours' excess is already net of the sensor's double counts (flow_matrix_hourly: scaled by the day's
-- factor c, the same in every hour); c's uncertainty is common to the hours and adds F^2 (sd_c / c)^2.
-- chance_rate_method and p_source are the least settled of the stored hours' (an hour materialized while its
-- day was incomplete keeps its stand-in s or p until it is materialized again), so is_provisional is any hour's.
with run as (
    select * from {{ ref('int_run_window') }}
),

daily as (
    select
        site_day,
        origin_camera_id,
        destination_camera_id,
        any_value(origin_role) as origin_role,
        any_value(destination_role) as destination_role,
        any_value(origin_store_id) as origin_store_id,
        any_value(destination_store_id) as destination_store_id,
        any_value(origin_zone) as origin_zone,
        any_value(destination_zone) as destination_zone,
        count(*) as hours,
        sum(same_group_pairs) as same_group_pairs,
        sum(chance_expectation) as chance_expectation,
        sum(excess_pairs) as excess_pairs,
        sum(time_pairs) as time_pairs,
        sum(pair_count_variance) as pair_count_variance,
        sum(chance_rate_sensitivity) as chance_rate_sensitivity,
        sum(origin_real_passes) as origin_real_passes,
        sum(double_count_excess_pairs) as double_count_excess_pairs,
        any_value(double_count_factor) as double_count_factor,
        any_value(double_count_factor_sd) as double_count_factor_sd,
        any_value(p_used) as p_used,
        any_value(p_sd) as p_sd,
        any_value(chance_rate) as chance_rate,
        any_value(chance_rate_sd) as chance_rate_sd,
        {{ least_settled_chance_rate_method() }} as chance_rate_method,
        {{ least_settled_p_source() }} as p_source,
        any_value(max_lag_minutes) as max_lag_minutes
    from {{ ref('flow_matrix_hourly') }}
    where site_day between (select first_day from run) and (select last_day from run)
    group by site_day, origin_camera_id, destination_camera_id
),

estimates as (
    select
        *,
        {{ flow_estimate('excess_pairs') }} as estimated_flow
    from daily
),

with_se as (
    select
        *,
        {{ flow_standard_error(
            pair_count_variance='pair_count_variance'
                ~ ' + power(excess_pairs * double_count_factor_sd / double_count_factor, 2)') }} as flow_se
    from estimates
)

select
    site_day,
    origin_camera_id,
    destination_camera_id,
    origin_role,
    destination_role,
    origin_store_id,
    destination_store_id,
    origin_zone,
    destination_zone,
    cast(hours as integer) as hours,
    estimated_flow,
    {{ flow_interval_columns() }},
    flow_se,
    {{ is_provisional() }} as is_provisional,
    cast(same_group_pairs as bigint) as same_group_pairs,
    chance_expectation,
    excess_pairs,
    cast(time_pairs as bigint) as time_pairs,
    p_used,
    p_sd,
    p_source,
    chance_rate,
    chance_rate_sd,
    chance_rate_method,
    pair_count_variance,
    chance_rate_sensitivity,
    cast(origin_real_passes as bigint) as origin_real_passes,
    double_count_excess_pairs,
    double_count_factor,
    double_count_factor_sd,
    max_lag_minutes
from with_se
