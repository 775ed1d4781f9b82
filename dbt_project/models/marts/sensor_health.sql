{{ config(pre_hook="{{ delete_requested_hours('hour_start') }}") }}
-- Sensor health per camera and hour from the heartbeats: stream availability, frames, the
-- fictitious-person share and the frame-to-deletion latency (frame received -> image data deleted).
-- Status and frames read / corrupt are per minute; what follows the persons in view (frames processed
-- and dropped, persons, passes, latency) is a camera-hour total on the hour's last heartbeat, so the sums
-- below are the hour's totals and the latency is the hour's (over all its frames). Where several rows
-- carry a latency (a sensor restarted within the hour; older files, one per minute) the p50 is their
-- median and the p99 the worst.
with run as (
    select * from {{ ref('int_run_window') }}
),

minutes as (
    select hb.*
    from {{ ref('stg_heartbeats') }} as hb
    cross join run
    where hb.minute_start >= run.window_start and hb.minute_start < run.window_end
),

-- Every camera for every hour of the window, so a camera that sent nothing shows a 60-minute outage.
camera_hours as (
    select cameras.camera_id, hours.hour_start
    from {{ ref('stg_cameras') }} as cameras
    cross join run
    cross join generate_series(run.window_start, run.window_end - interval 1 hour, interval 1 hour)
        as hours(hour_start)
    union
    select distinct camera_id, hour_start from minutes
),

hourly as (
    select
        camera_id,
        hour_start,
        count(*) as heartbeat_minutes,
        count(*) filter (where stream_status = 'ok') as ok_minutes,
        count(*) filter (where stream_status = 'reconnecting') as reconnecting_minutes,
        count(*) filter (where stream_status = 'down') as down_minutes,
        count(*) filter (where stream_status = 'stopped') as stopped_minutes,
        sum(frames_read) as frames_read,
        sum(frames_processed) as frames_processed,
        sum(frames_dropped) as frames_dropped,
        sum(frames_corrupt) as frames_corrupt,
        sum(persons_detected) as persons_detected,
        sum(occurrences_emitted) as real_emitted,
        sum(fictitious_emitted) as fictitious_emitted,
        max(fictitious_plan_per_group) as fictitious_plan_per_group,
        median(latency_p50_ms) as latency_p50_ms,
        max(latency_p99_ms) as latency_p99_max_ms,
        min(lsh_key_epoch) as lsh_key_epoch_min,
        max(lsh_key_epoch) as lsh_key_epoch_max
    from minutes
    group by all
)

select
    camera_hours.hour_start,
    {{ site_day('camera_hours.hour_start', 'run.timezone') }} as site_day,
    camera_hours.camera_id,
    coalesce(hourly.heartbeat_minutes, 0) as heartbeat_minutes,
    coalesce(hourly.ok_minutes, 0) as ok_minutes,
    60 - coalesce(hourly.ok_minutes, 0) as outage_minutes,
    60 - coalesce(hourly.heartbeat_minutes, 0) as missing_heartbeat_minutes,
    coalesce(hourly.reconnecting_minutes, 0) as reconnecting_minutes,
    coalesce(hourly.down_minutes, 0) as down_minutes,
    coalesce(hourly.stopped_minutes, 0) as stopped_minutes,
    cast(coalesce(hourly.frames_read, 0) as bigint) as frames_read,
    cast(coalesce(hourly.frames_processed, 0) as bigint) as frames_processed,
    cast(coalesce(hourly.frames_dropped, 0) as bigint) as frames_dropped,
    cast(coalesce(hourly.frames_corrupt, 0) as bigint) as frames_corrupt,
    hourly.frames_dropped / nullif(hourly.frames_read, 0) as dropped_frame_share,
    cast(coalesce(hourly.persons_detected, 0) as bigint) as persons_detected,
    cast(coalesce(hourly.real_emitted, 0) as bigint) as real_emitted,
    cast(coalesce(hourly.fictitious_emitted, 0) as bigint) as fictitious_emitted,
    hourly.fictitious_emitted / nullif(hourly.fictitious_emitted + hourly.real_emitted, 0) as fictitious_share,
    hourly.fictitious_plan_per_group,
    hourly.fictitious_plan_per_group * run.n_groups as fictitious_planned,
    hourly.latency_p50_ms,
    hourly.latency_p99_max_ms,
    hourly.lsh_key_epoch_min,
    hourly.lsh_key_epoch_max
from camera_hours
cross join run
left join hourly on camera_hours.camera_id = hourly.camera_id and camera_hours.hour_start = hourly.hour_start
