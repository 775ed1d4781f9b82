-- The run's time frame (one row). Hours in the requested window are produced; everything they need
-- is read around them: the chance rate s and the re-identification rate p are fitted on whole
-- site-local days, flows look ahead by the lag, visits by the visit lag. Because each hour reads a
-- fixed frame around itself, its result does not depend on how many hours one run covers.
with site as (
    select * from {{ ref('stg_site') }}
),

requested as (
    select
        {{ requested_window_start() }} as requested_start,
        {{ requested_window_end() }} as requested_end
),

data_bounds as (
    select
        min(first_at) as data_first_at,
        max(last_at) as data_last_at
    from (
        select min(observed_at) as first_at, max(observed_at) as last_at from {{ ref('stg_occurrences') }}
        union all
        select min(minute_start), max(minute_start) from {{ ref('stg_heartbeats') }}
        union all
        select min(window_start), max(window_start) from {{ ref('stg_demographics') }}
    )
),

hours as (
    select
        requested.*,
        data_bounds.*,
        site.*,
        greatest(date_trunc('hour', requested_start), date_trunc('hour', data_first_at)) as window_start,
        least(
            date_trunc('hour', requested_end - interval 1 microsecond) + interval 1 hour,
            date_trunc('hour', data_last_at) + interval 1 hour
        ) as window_end
    from requested, data_bounds, site
),

days as (
    select
        *,
        {{ site_day('requested_start', 'timezone') }} as requested_first_day,
        {{ site_day('requested_end - interval 1 microsecond', 'timezone') }} as requested_last_day,
        {{ site_day('window_start', 'timezone') }} as first_day,
        {{ site_day('window_end - interval 1 microsecond', 'timezone') }} as last_day
    from hours
)

select
    site_id,
    timezone,
    n_groups,
    max_lag_minutes,
    p_override,
    min_cell_size,
    small_cells,
    requested_start,
    requested_end,
    requested_first_day,
    requested_last_day,
    window_start,
    window_end,
    first_day,
    last_day,
    -- UTC instants of the first day's local midnight and of the midnight after the last day.
    cast(timezone(timezone, cast(first_day as timestamp)) as timestamp) as days_start,
    cast(timezone(timezone, cast(last_day + 1 as timestamp)) as timestamp) as days_end,
    -- The chance-rate fit also reads the day before the first day (fallback for a day's first hours).
    cast(timezone(timezone, cast(first_day - 1 as timestamp)) as timestamp) as fit_start,
    cast(max_lag_minutes * 60 as bigint) as flow_lag_s,
    cast(least({{ var('flow_direct_lag_minutes') }}, max_lag_minutes) * 60 as bigint) as flow_direct_lag_s,
    cast({{ var('visit_max_lag_minutes') }} * 60 as bigint) as visit_lag_s,
    cast({{ var('interval_blocks') }} as integer) as interval_blocks,
    -- Everything any model of this run reads lies in [read_start, read_end).
    cast(timezone(timezone, cast(first_day as timestamp)) as timestamp) as read_start,
    cast(timezone(timezone, cast(last_day + 1 as timestamp)) as timestamp)
        + to_minutes(cast(greatest({{ var('visit_max_lag_minutes') }}, max_lag_minutes) as bigint))
        + interval 1 hour as read_end
from days
where window_start < window_end
