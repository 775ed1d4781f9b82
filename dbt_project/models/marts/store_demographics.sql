{{ config(pre_hook="{{ delete_requested_days('site_day') }}") }}
-- Visitors entering each store by age band and gender, per hour and per site-local day, from the
-- door-in cameras' aggregated demographic counts. Cells under the site's min_cell_size are
-- suppressed (count shown as null). Day cells are suppressed on their own total, not built from the
-- suppressed hours. Whole days are rebuilt, every hour of each day included.
with run as (
    select * from {{ ref('int_run_window') }}
),

door_in_counts as (
    select
        demo.hour_start,
        {{ site_day('demo.hour_start', 'run.timezone') }} as site_day,
        cameras.store_id,
        demo.age_band,
        demo.gender,
        demo.person_count
    from {{ ref('stg_demographics') }} as demo
    inner join {{ ref('stg_cameras') }} as cameras on demo.camera_id = cameras.camera_id
    cross join run
    where cameras.role = 'store_door_in'
      and demo.window_start >= run.days_start
      and demo.window_start < run.days_end
),

cells as (
    select 'hour' as period, hour_start, site_day, store_id, age_band, gender, sum(person_count) as visitors
    from door_in_counts
    group by all
    union all
    select 'day', null, site_day, store_id, age_band, gender, sum(person_count)
    from door_in_counts
    group by all
)

select
    cells.period,
    cells.hour_start,
    cells.site_day,
    cells.store_id,
    stores.store_name,
    cells.age_band,
    cells.gender,
    cast(case when cells.visitors >= run.min_cell_size then cells.visitors end as bigint) as visitors,
    cells.visitors < run.min_cell_size as is_suppressed,
    run.min_cell_size
from cells
cross join run
left join {{ ref('stg_stores') }} as stores on cells.store_id = stores.store_id
where cells.site_day between run.first_day and run.last_day
