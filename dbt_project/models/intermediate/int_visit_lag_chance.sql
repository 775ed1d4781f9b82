-- B(d): the chance expectation of M(d) per visit scope, origin hour and lag minute d, built like
-- the flows' (see int_flow_hourly_components) from per-minute time pairs. Passes k minutes apart
-- (by minute stamp) fall in lag minute k with share 1830/3600 (v <= u) and in lag minute k + 1
-- with share 1770/3600 (v > u), u, v the seconds within their minutes.
with run as (
    select
        cast(epoch(days_start) // 60 as integer) as days_start_min,
        cast(epoch(days_end) // 60 as integer) as days_end_min,
        cast(visit_lag_s // 60 as integer) as visit_lag_min,
        n_groups,
        timezone
    from {{ ref('int_run_window') }}
),

pairs as (
    select * from {{ ref('int_visit_camera_pairs') }}
),

minutes as (
    select * from {{ ref('int_camera_minute_counts') }}
),

origin as (
    select minutes.*
    from minutes, run
    where minutes.minute_idx >= run.days_start_min and minutes.minute_idx < run.days_end_min
      and minutes.camera_idx in (select origin_idx from pairs)
),

destination_shifted as (
    select
        minutes.camera_idx,
        minutes.minute_idx - lags.minute_gap as origin_minute_idx,
        minutes.hour_idx as destination_hour_idx,
        lags.minute_gap,
        minutes.passes
    from minutes, run, generate_series(0, run.visit_lag_min) as lags(minute_gap)
    where minutes.camera_idx in (select destination_idx from pairs)
      and minutes.minute_idx - lags.minute_gap >= run.days_start_min
      and minutes.minute_idx - lags.minute_gap < run.days_end_min
),

origin_pairs as (
    select pairs.visit_scope, pairs.scope_id, pairs.destination_idx, origin.*
    from origin
    inner join pairs on origin.camera_idx = pairs.origin_idx
),

time_pairs as (
    select
        origin.visit_scope,
        origin.scope_id,
        origin.camera_idx as origin_idx,
        destination.camera_idx as destination_idx,
        origin.hour_idx,
        destination.destination_hour_idx,
        destination.minute_gap,
        sum(origin.passes * destination.passes) as time_pairs
    from origin_pairs as origin
    inner join destination_shifted as destination
        on origin.destination_idx = destination.camera_idx
        and origin.minute_idx = destination.origin_minute_idx
    group by all
),

binned as (
    select *, minute_gap as lag_minute, 1830.0 / 3600 * time_pairs as bin_time_pairs
    from time_pairs
    where minute_gap >= 1
    union all
    select time_pairs.*, minute_gap + 1 as lag_minute, 1770.0 / 3600 * time_pairs as bin_time_pairs
    from time_pairs, run
    where minute_gap + 1 <= run.visit_lag_min
)

select
    binned.visit_scope,
    binned.scope_id,
    binned.hour_idx,
    binned.lag_minute,
    sum(binned.bin_time_pairs) as time_pairs,
    sum(
        binned.bin_time_pairs
        * {{ expected_same_group_pairs(
            'origin.real_events', 'origin.fictitious_emitted',
            'destination.real_events', 'destination.fictitious_emitted',
            'rate.chance_rate', 'run.n_groups') }}
        / (cast(origin.events_total as double) * destination.events_total)
    ) as chance_expectation,
    sum(
        binned.bin_time_pairs * origin.real_events * destination.real_events
        / (cast(origin.events_total as double) * destination.events_total)
    ) as chance_rate_sensitivity
from binned
cross join run
inner join {{ ref('int_camera_hour_totals') }} as origin
    on binned.origin_idx = origin.camera_idx and binned.hour_idx = origin.hour_idx
inner join {{ ref('int_camera_hour_totals') }} as destination
    on binned.destination_idx = destination.camera_idx and binned.destination_hour_idx = destination.hour_idx
inner join {{ ref('int_chance_rate_daily') }} as rate
    on {{ site_day(hour_from_index('binned.hour_idx'), 'run.timezone') }} = rate.site_day
group by all
