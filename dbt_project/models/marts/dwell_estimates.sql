{{ config(pre_hook="{{ delete_requested_days('site_day') }}") }}
-- Dwell time per scope (store visit: door in -> door out; mall visit: entrance -> exit) per hour of
-- the origin pass and per site-local day: the lags at which the cumulative visit share C(d) of
-- dwell_lag_histogram reaches 1/4, 1/2 and 3/4, linearly interpolated inside the 1-minute bin.
-- The median's interval inverts C's interval: the lags where C's upper / lower bound (each made
-- non-decreasing) reach 1/2.
with histogram as (
    select
        *,
        lag(cumulative_share, 1, 0) over bins as previous_share,
        max(cumulative_share_ci_low) over bins_so_far as lower_bound,
        max(cumulative_share_ci_high) over bins_so_far as upper_bound
    from {{ ref('dwell_lag_histogram') }}
    where site_day between (select first_day from {{ ref('int_run_window') }})
        and (select last_day from {{ ref('int_run_window') }})
    window
        bins as (partition by period, hour_start, site_day, visit_scope, scope_id order by lag_minute),
        bins_so_far as (
            partition by period, hour_start, site_day, visit_scope, scope_id
            order by lag_minute rows between unbounded preceding and current row
        )
),

with_previous_lower as (
    select
        *,
        lag(lower_bound, 1, 0) over bins as previous_lower,
        lag(upper_bound, 1, 0) over bins as previous_upper
    from histogram
    window bins as (partition by period, hour_start, site_day, visit_scope, scope_id order by lag_minute)
),

quantiles as (
    select
        period,
        hour_start,
        site_day,
        visit_scope,
        scope_id,
        any_value(origin_real) as origin_real,
        any_value(p_used) as p_used,
        max(cumulative_share) as visit_share_within_max_lag,
        {%- for name, q in [('dwell_q1_minutes', 0.25), ('dwell_median_minutes', 0.5), ('dwell_q3_minutes', 0.75)] %}
        min(
            case when cumulative_share >= {{ q }} and previous_share < {{ q }}
                then lag_minute - 1 + ({{ q }} - previous_share) / (cumulative_share - previous_share) end
        ) as {{ name }},
        {%- endfor %}
        min(
            case when upper_bound >= 0.5 and previous_upper < 0.5
                then lag_minute - 1 + (0.5 - previous_upper) / (upper_bound - previous_upper) end
        ) as dwell_median_ci_low,
        min(
            case when lower_bound >= 0.5 and previous_lower < 0.5
                then lag_minute - 1 + (0.5 - previous_lower) / (lower_bound - previous_lower) end
        ) as dwell_median_ci_high,
        max(lag_minute) as max_lag_minutes
    from with_previous_lower
    group by period, hour_start, site_day, visit_scope, scope_id
)

select
    period,
    hour_start,
    site_day,
    visit_scope,
    scope_id,
    cast(origin_real as bigint) as origin_real,
    visit_share_within_max_lag,
    dwell_q1_minutes,
    dwell_median_minutes,
    dwell_median_ci_low,
    dwell_median_ci_high,
    dwell_q3_minutes,
    p_used,
    max_lag_minutes
from quantiles
