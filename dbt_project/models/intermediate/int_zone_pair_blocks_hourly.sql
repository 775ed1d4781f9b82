{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_requested_hours('hour_start') }}"
) }}
-- Per origin hour, zone pair and block of groups (group mod K, dbt var interval_blocks): the same-group
-- pairs M_b of all camera pairs between the two zones whose group lies in the block, and their chance
-- expectation given the block's own passes, B_b. Blocks are independent replicates of the chance
-- process, so flow_matrix_zone_daily takes a zone flow's variance from the spread of M_b - B_b.
-- B_b must follow the passes that fell in the block: which persons land in a block moves M_b far more
-- than chance does (a block's share of a camera-hour's passes varies), and that part does not reach the
-- total. So each camera pair's chance pairs B (int_flow_hourly_components) are apportioned to its
-- destination hours by their time pairs and to block b by K a_b c_b, with a_b and c_b the block's share
-- of the origin and the destination camera-hour's passes (the block's passes taken as spread over the
-- hour like all of them).
-- Stored per hour like the flow marts, so that a day is recomputed whole from its stored hours.
with run as (
    select * from {{ ref('int_run_window') }}
),

cameras as (
    select * from {{ ref('int_camera_index') }}
),

block_shares as (
    select
        camera_idx,
        hour_idx,
        block,
        passes / sum(passes) over (partition by camera_idx, hour_idx) as pass_share
    from (
        select occ.camera_idx, occ.hour_idx, occ.group_id % run.interval_blocks as block, count(*) as passes
        from {{ ref('int_occurrences_read') }} as occ, run
        group by all
    )
),

pairs_by_block as (
    select
        origin_idx,
        destination_idx,
        hour_idx,
        destination_hour_idx,
        time_pairs,
        unnest(same_group_pairs_by_block) as same_group_pairs,
        generate_subscripts(same_group_pairs_by_block, 1) - 1 as block
    from {{ ref('int_flow_pair_counts') }}
),

apportioned as (
    select
        pairs.hour_idx,
        pairs.origin_idx,
        pairs.destination_idx,
        pairs.block,
        pairs.same_group_pairs,
        components.chance_expectation * pairs.time_pairs / nullif(components.time_pairs, 0)
            * run.interval_blocks * coalesce(origin.pass_share, 0) * coalesce(destination.pass_share, 0)
            as chance_expectation
    from pairs_by_block as pairs
    cross join run
    inner join {{ ref('int_flow_hourly_components') }} as components
        on pairs.origin_idx = components.origin_idx
        and pairs.destination_idx = components.destination_idx
        and pairs.hour_idx = components.hour_idx
    left join block_shares as origin
        on pairs.origin_idx = origin.camera_idx and pairs.hour_idx = origin.hour_idx and pairs.block = origin.block
    left join block_shares as destination
        on pairs.destination_idx = destination.camera_idx
        and pairs.destination_hour_idx = destination.hour_idx
        and pairs.block = destination.block
)

select
    {{ hour_from_index('apportioned.hour_idx') }} as hour_start,
    {{ site_day(hour_from_index('apportioned.hour_idx'), 'run.timezone') }} as site_day,
    coalesce(origin.zone, '(none)') as origin_zone,
    coalesce(destination.zone, '(none)') as destination_zone,
    cast(apportioned.block as integer) as block,
    cast(sum(apportioned.same_group_pairs) as bigint) as same_group_pairs,
    coalesce(sum(apportioned.chance_expectation), 0) as chance_expectation
from apportioned
cross join run
inner join cameras as origin on apportioned.origin_idx = origin.camera_idx
inner join cameras as destination on apportioned.destination_idx = destination.camera_idx
group by all
