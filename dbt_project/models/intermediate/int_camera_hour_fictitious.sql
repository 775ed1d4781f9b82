-- Per camera and UTC hour: the fictitious passes every correction removes or models (footfall, the flows'
-- and the chance rate's expectations). The heartbeats report them as a camera-hour total on the hour's
-- last row (individ.contract.HEARTBEAT_HOUR_TOTALS; older files one per minute, the same sum). Where the
-- camera-hour has stored passes but its heartbeats account for none of them (the row carrying the total
-- lost, or a sensor that crashed before writing it), they are taken from the plan instead:
--   f = round(lambda G covered_minutes / 60)
-- with lambda the published plan per group, G the groups and covered_minutes the minutes of the hour with
-- a heartbeat or a stored pass (the sensor ran then; fictitious persons are spread evenly over the hour),
-- never more than the passes stored.
-- fictitious_source says which: heartbeats, plan, or none (no heartbeat at all, so no plan: nothing removed).
-- Whole hours from the chance-rate fit's first hour to the end of the run's read frame.
with run as (
    select * from {{ ref('int_run_window') }}
),

bounds as (
    select
        date_trunc('hour', run.fit_start) as first_hour,
        date_trunc('hour', run.read_end - interval 1 microsecond) + interval 1 hour as end_hour,
        run.n_groups
    from run
),

-- Each stream is read once, per minute: the hours' sums and the minutes covered both come from these.
heartbeat_rows as (
    select hb.camera_id, hb.minute_start, hb.fictitious_emitted, hb.occurrences_emitted, hb.fictitious_plan_per_group
    from {{ ref('stg_heartbeats') }} as hb, bounds
    where hb.minute_start >= bounds.first_hour and hb.minute_start < bounds.end_hour
),

pass_minutes as (
    select occ.camera_id, date_trunc('minute', occ.observed_at) as minute_start, count(*) as passes
    from {{ ref('stg_occurrences') }} as occ, bounds
    where occ.observed_at >= bounds.first_hour and occ.observed_at < bounds.end_hour
    group by all
),

heartbeats as (
    select
        camera_id,
        date_trunc('hour', minute_start) as hour_start,
        sum(fictitious_emitted) as fictitious_reported,
        sum(occurrences_emitted) as real_reported,
        max(fictitious_plan_per_group) as fictitious_plan_per_group,
        count(*) as heartbeat_minutes
    from heartbeat_rows
    group by all
),

passes as (
    select camera_id, date_trunc('hour', minute_start) as hour_start, cast(sum(passes) as bigint) as passes_stored
    from pass_minutes
    group by all
),

covered as (
    select camera_id, date_trunc('hour', minute_start) as hour_start, count(*) as covered_minutes
    from (
        select camera_id, minute_start from heartbeat_rows
        union
        select camera_id, minute_start from pass_minutes
    )
    group by all
),

sourced as (
    select
        coalesce(passes.camera_id, heartbeats.camera_id) as camera_id,
        coalesce(passes.hour_start, heartbeats.hour_start) as hour_start,
        coalesce(passes.passes_stored, 0) as passes_stored,
        coalesce(heartbeats.fictitious_reported, 0) as fictitious_reported,
        heartbeats.real_reported,
        heartbeats.fictitious_plan_per_group,
        coalesce(heartbeats.heartbeat_minutes, 0) as heartbeat_minutes,
        case
            when heartbeats.camera_id is null then 'none'
            when coalesce(passes.passes_stored, 0) > 0
                and heartbeats.fictitious_reported + heartbeats.real_reported = 0 then 'plan'
            else 'heartbeats'
        end as fictitious_source
    from passes
    full outer join heartbeats
        on passes.camera_id = heartbeats.camera_id and passes.hour_start = heartbeats.hour_start
)

select
    sourced.camera_id,
    sourced.hour_start,
    sourced.passes_stored,
    cast(sourced.fictitious_reported as bigint) as fictitious_reported,
    cast(sourced.real_reported as bigint) as real_reported,
    sourced.fictitious_plan_per_group,
    sourced.heartbeat_minutes,
    covered.covered_minutes,
    sourced.fictitious_source,
    cast(
        case sourced.fictitious_source
            when 'plan' then least(
                round(sourced.fictitious_plan_per_group * bounds.n_groups * least(covered.covered_minutes, 60) / 60),
                sourced.passes_stored
            )
            when 'heartbeats' then sourced.fictitious_reported
            else 0
        end as bigint
    ) as fictitious_passes
from sourced
cross join bounds
left join covered on sourced.camera_id = covered.camera_id and sourced.hour_start = covered.hour_start
