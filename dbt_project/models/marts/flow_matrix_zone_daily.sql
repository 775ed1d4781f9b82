{{ config(pre_hook="{{ delete_requested_days('site_day') }}") }}
-- Estimated flow between zones per site-local day: the camera-pair figures of flow_matrix_daily
-- summed over the cameras of each zone (M, B and their variances add up; s and p are common).
-- Counts pass pairs like the camera matrix: a person passing two cameras of a zone counts twice.
with daily as (
    select
        site_day,
        coalesce(origin_zone, '(none)') as origin_zone,
        coalesce(destination_zone, '(none)') as destination_zone,
        count(*) as camera_pairs,
        sum(same_group_pairs) as same_group_pairs,
        sum(chance_expectation) as chance_expectation,
        sum(excess_pairs) as excess_pairs,
        sum(pair_count_variance) as pair_count_variance,
        sum(chance_rate_sensitivity) as chance_rate_sensitivity,
        any_value(p_used) as p_used,
        any_value(p_sd) as p_sd,
        any_value(chance_rate) as chance_rate,
        any_value(chance_rate_sd) as chance_rate_sd
    from {{ ref('flow_matrix_daily') }}
    where site_day between (select first_day from {{ ref('int_run_window') }})
        and (select last_day from {{ ref('int_run_window') }})
    group by all
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
        {{ flow_standard_error() }} as flow_se
    from estimates
)

select
    site_day,
    origin_zone,
    destination_zone,
    cast(camera_pairs as integer) as camera_pairs,
    estimated_flow,
    {{ flow_interval_columns() }},
    flow_se,
    cast(same_group_pairs as bigint) as same_group_pairs,
    chance_expectation,
    excess_pairs,
    p_used,
    chance_rate
from with_se
