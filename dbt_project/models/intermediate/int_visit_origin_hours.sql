-- Per visit scope and origin hour on the run's days: the real passes at the scope's origin cameras
-- (store door-ins or site entrances), R = passes - fictitious. Visit shares are relative to R.
with run as (
    select * from {{ ref('int_run_window') }}
),

origin_cameras as (
    select distinct visit_scope, scope_id, origin_idx from {{ ref('int_visit_camera_pairs') }}
)

select
    origin_cameras.visit_scope,
    origin_cameras.scope_id,
    totals.hour_idx,
    {{ site_day(hour_from_index('totals.hour_idx'), 'run.timezone') }} as site_day,
    cast(sum(totals.events_total) as bigint) as origin_events,
    cast(sum(totals.real_events) as bigint) as origin_real
from origin_cameras
inner join {{ ref('int_camera_hour_totals') }} as totals on origin_cameras.origin_idx = totals.camera_idx
cross join run
where totals.hour_idx >= epoch(run.days_start) // 3600
  and totals.hour_idx < epoch(run.days_end) // 3600
group by all
