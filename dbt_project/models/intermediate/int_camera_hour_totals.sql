-- Per camera and hour of the read frame: passes stored (n), fictitious passes the sensor says it
-- added (f, from heartbeats), real passes R = n - f, and the published plan lambda per group.
with run as (
    select * from {{ ref('int_run_window') }}
),

passes as (
    select camera_idx, hour_idx, count(*) as events_total
    from {{ ref('int_occurrences_read') }}
    group by all
),

heartbeats as (
    select
        cameras.camera_idx,
        cast(epoch(hb.hour_start) // 3600 as integer) as hour_idx,
        sum(hb.fictitious_emitted) as fictitious_emitted,
        sum(hb.occurrences_emitted) as real_emitted,
        max(hb.fictitious_plan_per_group) as fictitious_plan_per_group,
        count(*) as heartbeat_minutes
    from {{ ref('stg_heartbeats') }} as hb
    inner join {{ ref('int_camera_index') }} as cameras on hb.camera_id = cameras.camera_id
    cross join run
    where hb.minute_start >= run.read_start and hb.minute_start < run.read_end
    group by all
)

select
    coalesce(passes.camera_idx, heartbeats.camera_idx) as camera_idx,
    coalesce(passes.hour_idx, heartbeats.hour_idx) as hour_idx,
    cast(coalesce(passes.events_total, 0) as bigint) as events_total,
    cast(coalesce(heartbeats.fictitious_emitted, 0) as bigint) as fictitious_emitted,
    cast(greatest(coalesce(passes.events_total, 0) - coalesce(heartbeats.fictitious_emitted, 0), 0) as bigint)
        as real_events,
    cast(heartbeats.real_emitted as bigint) as real_emitted,
    heartbeats.fictitious_plan_per_group,
    coalesce(heartbeats.heartbeat_minutes, 0) as heartbeat_minutes
from passes
full outer join heartbeats
    on passes.camera_idx = heartbeats.camera_idx and passes.hour_idx = heartbeats.hour_idx
