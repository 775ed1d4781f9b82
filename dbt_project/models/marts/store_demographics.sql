{{ config(pre_hook="{{ delete_requested_days('site_day') }}") }}
-- Visitors entering each store by age band and gender, per hour and per site-local day, from the
-- door-in cameras' aggregated demographic counts. A cell under the site's min_cell_size follows
-- privacy.small_cells: suppress withholds it (count shown as null); merge_unknown adds its visitors
-- to the hour's (unknown, unknown) cell and drops the row, so the hour's total is kept. A merged
-- cell still under the minimum is withheld in turn: no cell under the minimum is ever shown. A day
-- cell is the sum of its hours as released, and is withheld too when it minus its shown hours would
-- reveal fewer than the minimum withheld visitors (disclosure by subtraction). Whole days are rebuilt,
-- every hour of each day included.
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

hour_cells as (
    select hour_start, site_day, store_id, age_band, gender, sum(person_count) as visitors
    from door_in_counts
    group by all
),

hours_placed as (
    select
        hour_cells.*,
        run.small_cells = 'merge_unknown' and hour_cells.visitors < run.min_cell_size as is_merged_away
    from hour_cells
    cross join run
),

-- Under merge_unknown every small hour cell lands in its hour's (unknown, unknown) cell; the others stay.
hours_released as (
    select
        'hour' as period,
        hour_start,
        site_day,
        store_id,
        case when is_merged_away then 'unknown' else age_band end as released_age_band,
        case when is_merged_away then 'unknown' else gender end as released_gender,
        sum(visitors) as visitors,
        count(*) filter (where is_merged_away and not (age_band = 'unknown' and gender = 'unknown')) as merged_cells
    from hours_placed
    group by period, hour_start, site_day, store_id, released_age_band, released_gender
),

-- A day cell adds up its hours: under merge_unknown the released hours (so a day cell never shows
-- visitors an hour merged away into unknown), under suppress the counted ones. The day cell minus its
-- shown hours is the visitors of its withheld hours: between 1 and the minimum, showing the day cell
-- would reveal a withheld hour cell (or a sum smaller than the minimum), so it is withheld too.
days_released as (
    select
        'day' as period,
        null as hour_start,
        hours_released.site_day,
        hours_released.store_id,
        hours_released.released_age_band,
        hours_released.released_gender,
        sum(hours_released.visitors) as visitors,
        sum(hours_released.merged_cells) as merged_cells,
        coalesce(
            sum(hours_released.visitors) filter (where hours_released.visitors < run.min_cell_size)
                between 1 and run.min_cell_size - 1,
            false
        ) as reveals_hidden_hours
    from hours_released
    cross join run
    group by
        hours_released.site_day,
        hours_released.store_id,
        hours_released.released_age_band,
        hours_released.released_gender,
        run.min_cell_size
),

released as (
    select *, false as reveals_hidden_hours
    from hours_released
    union all
    select * from days_released
)

select
    released.period,
    released.hour_start,
    released.site_day,
    released.store_id,
    stores.store_name,
    released.released_age_band as age_band,
    released.released_gender as gender,
    cast(
        case when released.visitors >= run.min_cell_size and not released.reveals_hidden_hours then released.visitors end
        as bigint
    ) as visitors,
    released.visitors < run.min_cell_size or released.reveals_hidden_hours as is_suppressed,
    cast(released.merged_cells as integer) as merged_cells,
    run.min_cell_size,
    run.small_cells
from released
cross join run
left join {{ ref('stg_stores') }} as stores on released.store_id = stores.store_id
where released.site_day between run.first_day and run.last_day
