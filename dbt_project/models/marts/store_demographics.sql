{{ config(pre_hook="{{ delete_requested_days('site_day') }}") }}
-- Visitors entering each store by age band and gender, per hour and per site-local day, from the
-- door-in cameras' aggregated demographic counts. A cell under the site's min_cell_size follows
-- privacy.small_cells: suppress withholds it (count shown as null); merge_unknown adds its visitors
-- to the period's (unknown, unknown) cell and drops the row, so the period's total is kept. A merged
-- cell still under the minimum is withheld in turn: no cell under the minimum is ever shown. Day
-- cells are built from the day's counts, not from the released hours. Whole days are rebuilt, every
-- hour of each day included.
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
),

placed as (
    select
        cells.*,
        run.small_cells = 'merge_unknown' and cells.visitors < run.min_cell_size as is_merged_away
    from cells
    cross join run
),

-- Under merge_unknown every small cell lands in its period's (unknown, unknown) cell; the others stay.
released as (
    select
        period,
        hour_start,
        site_day,
        store_id,
        case when is_merged_away then 'unknown' else age_band end as released_age_band,
        case when is_merged_away then 'unknown' else gender end as released_gender,
        sum(visitors) as visitors,
        count(*) filter (where is_merged_away and not (age_band = 'unknown' and gender = 'unknown')) as merged_cells
    from placed
    group by period, hour_start, site_day, store_id, released_age_band, released_gender
)

select
    released.period,
    released.hour_start,
    released.site_day,
    released.store_id,
    stores.store_name,
    released.released_age_band as age_band,
    released.released_gender as gender,
    cast(case when released.visitors >= run.min_cell_size then released.visitors end as bigint) as visitors,
    released.visitors < run.min_cell_size as is_suppressed,
    cast(released.merged_cells as integer) as merged_cells,
    run.min_cell_size,
    run.small_cells
from released
cross join run
left join {{ ref('stg_stores') }} as stores on released.store_id = stores.store_id
where released.site_day between run.first_day and run.last_day
