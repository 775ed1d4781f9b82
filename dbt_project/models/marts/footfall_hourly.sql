{{ config(pre_hook="{{ delete_requested_hours('hour_start') }}") }}
-- Passes per camera and hour, corrected for the fictitious persons the sensor added. The camera total
-- is exact: footfall = passes stored - fictitious passes emitted (heartbeats, a camera-hour total). Where
-- the heartbeats account for none of the stored passes (the row carrying the hour's total is missing),
-- the plan's expectation is removed instead (int_camera_hour_fictitious; fictitious_source = 'plan').
-- Heartbeats do not say which direction the fictitious passes took, but the sensor draws each one's direction
-- from the camera's mix fixed in advance (stg_cameras.fictitious_share_*), so each direction loses its share:
--   footfall_<dir> = (passes_<dir>_stored - fictitious_removed x share_<dir>) (1 - d)
-- The three add up to footfall exactly; each is exact in expectation, off by the multinomial noise of the
-- fictitious draw (so it can dip below 0 in a quiet hour). Sharing out by the stored passes instead would
-- take the real passes' mix, which differs (a door-in camera's real passes are nearly all 'in').
-- The sensor's double counts (a pass emitted twice, a split track) are removed too: with d the day's share of
-- the camera's real passes that are doubles (double_count_rates; 0 when the site shows none),
--   footfall = (passes stored - fictitious removed) (1 - d)
-- and each direction's figure is scaled the same way. The raw counts stay beside it.
with run as (
    select * from {{ ref('int_run_window') }}
),

passes as (
    select
        occ.camera_id,
        occ.hour_start,
        count(*) as passes_stored,
        count(*) filter (where occ.direction = 'in') as passes_in_stored,
        count(*) filter (where occ.direction = 'out') as passes_out_stored,
        count(*) filter (where occ.direction = 'unknown') as passes_unknown_stored
    from {{ ref('stg_occurrences') }} as occ
    cross join run
    where occ.observed_at >= run.window_start and occ.observed_at < run.window_end
    group by all
),

heartbeats as (
    select hours.*
    from {{ ref('int_camera_hour_fictitious') }} as hours
    cross join run
    where hours.hour_start >= run.window_start and hours.hour_start < run.window_end
      and hours.fictitious_source <> 'none'
),

joined as (
    select
        coalesce(passes.camera_id, heartbeats.camera_id) as camera_id,
        coalesce(passes.hour_start, heartbeats.hour_start) as hour_start,
        coalesce(passes.passes_stored, 0) as passes_stored,
        coalesce(passes.passes_in_stored, 0) as passes_in_stored,
        coalesce(passes.passes_out_stored, 0) as passes_out_stored,
        coalesce(passes.passes_unknown_stored, 0) as passes_unknown_stored,
        coalesce(heartbeats.fictitious_reported, 0) as fictitious_emitted,
        heartbeats.real_reported as real_emitted,
        coalesce(heartbeats.fictitious_passes, 0) as fictitious_removed,
        coalesce(heartbeats.fictitious_source, 'none') as fictitious_source,
        coalesce(heartbeats.heartbeat_minutes, 0) as heartbeat_minutes
    from passes
    full outer join heartbeats
        on passes.camera_id = heartbeats.camera_id and passes.hour_start = heartbeats.hour_start
),

dated as (
    select joined.*, {{ site_day('joined.hour_start', 'run.timezone') }} as site_day
    from joined
    cross join run
),

corrected as (
    select
        dated.*,
        coalesce(doubles.double_count_rate, 0) as double_count_rate,
        (dated.passes_stored - dated.fictitious_removed) * coalesce(doubles.double_count_rate, 0)
            as estimated_double_counts,
        (dated.passes_stored - dated.fictitious_removed) * (1 - coalesce(doubles.double_count_rate, 0)) as footfall
    from dated
    left join {{ ref('double_count_rates') }} as doubles
        on dated.camera_id = doubles.camera_id and dated.site_day = doubles.site_day
)

select
    corrected.hour_start,
    corrected.site_day,
    corrected.camera_id,
    cameras.role as camera_role,
    cameras.store_id,
    cameras.zone,
    cast(corrected.footfall as double) as footfall,
    (corrected.passes_in_stored - corrected.fictitious_removed * cameras.fictitious_share_in)
        * (1 - corrected.double_count_rate) as footfall_in,
    (corrected.passes_out_stored - corrected.fictitious_removed * cameras.fictitious_share_out)
        * (1 - corrected.double_count_rate) as footfall_out,
    (corrected.passes_unknown_stored - corrected.fictitious_removed * cameras.fictitious_share_unknown)
        * (1 - corrected.double_count_rate) as footfall_unknown_direction,
    corrected.double_count_rate,
    cast(corrected.estimated_double_counts as double) as estimated_double_counts,
    corrected.passes_stored,
    corrected.passes_in_stored,
    corrected.passes_out_stored,
    corrected.passes_unknown_stored,
    cast(corrected.fictitious_emitted as bigint) as fictitious_emitted,
    cast(corrected.real_emitted as bigint) as real_emitted,
    cast(corrected.fictitious_removed as bigint) as fictitious_removed,
    corrected.fictitious_source,
    corrected.heartbeat_minutes,
    -- Stored passes that the sensor's own counts do not account for (lost or extra segments).
    cast(corrected.passes_stored - corrected.fictitious_emitted - corrected.real_emitted as bigint) as unaccounted_passes
from corrected
cross join run
left join {{ ref('stg_cameras') }} as cameras on corrected.camera_id = cameras.camera_id
