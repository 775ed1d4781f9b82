-- Per camera and hour of the read frame: passes stored (n), fictitious passes (f: as the heartbeats report
-- them, or the plan's expectation where they account for none of the stored passes, int_camera_hour_fictitious),
-- real passes R = n - f, and the published plan lambda per group.
with run as (
    select * from {{ ref('int_run_window') }}
),

passes as (
    select camera_idx, hour_idx, count(*) as events_total
    from {{ ref('int_occurrences_read') }}
    group by all
),

fictitious as (
    select
        cameras.camera_idx,
        cast(epoch(hours.hour_start) // 3600 as integer) as hour_idx,
        hours.fictitious_passes,
        hours.fictitious_source,
        hours.real_reported,
        hours.fictitious_plan_per_group,
        hours.heartbeat_minutes
    from {{ ref('int_camera_hour_fictitious') }} as hours
    inner join {{ ref('int_camera_index') }} as cameras on hours.camera_id = cameras.camera_id
    cross join run
    where hours.hour_start >= date_trunc('hour', run.read_start) and hours.hour_start < run.read_end
      and hours.fictitious_source <> 'none'
)

select
    coalesce(passes.camera_idx, fictitious.camera_idx) as camera_idx,
    coalesce(passes.hour_idx, fictitious.hour_idx) as hour_idx,
    cast(coalesce(passes.events_total, 0) as bigint) as events_total,
    cast(coalesce(fictitious.fictitious_passes, 0) as bigint) as fictitious_emitted,
    cast(greatest(coalesce(passes.events_total, 0) - coalesce(fictitious.fictitious_passes, 0), 0) as bigint)
        as real_events,
    cast(fictitious.real_reported as bigint) as real_emitted,
    fictitious.fictitious_plan_per_group,
    coalesce(fictitious.heartbeat_minutes, 0) as heartbeat_minutes,
    coalesce(fictitious.fictitious_source, 'none') as fictitious_source
from passes
full outer join fictitious
    on passes.camera_idx = fictitious.camera_idx and passes.hour_idx = fictitious.hour_idx
