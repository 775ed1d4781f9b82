{{ config(pre_hook="{{ delete_requested_days('site_day') }}") }}
-- Estimated flow between zones per site-local day: the camera-pair figures of flow_matrix_daily
-- summed over the cameras of each zone (M and B add up; s and p are common).
-- Counts pass pairs like the camera matrix: a person passing two cameras of a zone counts twice.
-- excess_pairs is the camera pairs' excess net of the sensor's double counts (c (M - B - X), see
-- flow_matrix_hourly), so the zone's M - B differs from it by that correction.
-- The interval does not add the camera pairs' variances: one person's group moves the chance counts
-- of every camera pair at once, so a sum over many pairs varies more than that. Instead the groups
-- are split into K blocks (group mod K), independent replicates of the chance process
-- (int_zone_pair_blocks_hourly: per block the same-group pairs M_b and their chance expectation B_b
-- given the block's passes), and
--   Var(M - B) = K / (K - 1) * sum_b (e_b - E / K)^2,  e_b = M_b - B_b,  E = sum_b e_b,
-- times c^2, the zone's double-count factor (the camera pairs' c weighted by their M: c is 0.97-0.99
-- and nearly the same for all of them), to which the uncertainty of s and p is added as in the camera
-- matrix. With K - 1 degrees of freedom the interval takes Student's t quantile (interval_blocks_t).
-- chance_rate_method and p_source are the least settled of the camera pairs' days (flow_matrix_daily).
with run as (
    select * from {{ ref('int_run_window') }}
),

daily as (
    select
        site_day,
        coalesce(origin_zone, '(none)') as origin_zone,
        coalesce(destination_zone, '(none)') as destination_zone,
        count(*) as camera_pairs,
        sum(same_group_pairs) as same_group_pairs,
        sum(chance_expectation) as chance_expectation,
        sum(excess_pairs) as excess_pairs,
        sum(chance_rate_sensitivity) as chance_rate_sensitivity,
        coalesce(sum(double_count_factor * same_group_pairs) / nullif(sum(same_group_pairs), 0), 1)
            as double_count_factor,
        any_value(p_used) as p_used,
        any_value(p_sd) as p_sd,
        any_value(chance_rate) as chance_rate,
        any_value(chance_rate_sd) as chance_rate_sd,
        {{ least_settled_chance_rate_method() }} as chance_rate_method,
        {{ least_settled_p_source() }} as p_source
    from {{ ref('flow_matrix_daily') }}
    where site_day between (select first_day from run) and (select last_day from run)
    group by all
),

block_excess as (
    select
        site_day,
        origin_zone,
        destination_zone,
        block,
        sum(same_group_pairs) - sum(chance_expectation) as excess_pairs
    from {{ ref('int_zone_pair_blocks_hourly') }}
    where site_day between (select first_day from run) and (select last_day from run)
    group by all
),

replicate_variance as (
    select
        site_day,
        origin_zone,
        destination_zone,
        count(*) / (count(*) - 1.0) * (sum(power(excess_pairs, 2)) - power(sum(excess_pairs), 2) / count(*))
            as excess_pairs_variance
    from block_excess
    group by all
),

estimates as (
    select
        daily.*,
        replicate_variance.excess_pairs_variance * power(daily.double_count_factor, 2) as excess_pairs_variance,
        {{ flow_estimate('daily.excess_pairs') }} as estimated_flow
    from daily
    left join replicate_variance
        on daily.site_day = replicate_variance.site_day
        and daily.origin_zone = replicate_variance.origin_zone
        and daily.destination_zone = replicate_variance.destination_zone
),

with_se as (
    select
        *,
        {{ flow_standard_error(pair_count_variance='excess_pairs_variance') }} as flow_se
    from estimates
)

select
    site_day,
    origin_zone,
    destination_zone,
    cast(camera_pairs as integer) as camera_pairs,
    estimated_flow,
    {{ flow_interval_columns(quantile=var('interval_blocks_t')) }},
    flow_se,
    {{ is_provisional() }} as is_provisional,
    cast(same_group_pairs as bigint) as same_group_pairs,
    chance_expectation,
    excess_pairs,
    p_used,
    p_source,
    chance_rate,
    chance_rate_method
from with_se
