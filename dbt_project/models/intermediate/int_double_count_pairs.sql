-- Per camera and origin hour of the run's whole site-local days: pairs of passes at the SAME camera at most
-- double_count_max_lag_seconds (L) apart, the sensor's split tracks (one pass emitted twice a moment later).
--   M_L = #(pass, later pass at the same camera, same group, 1 <= lag <= L s)
--   T_L = #(the same, any groups)
--   B_L = T_L S,  S = the chance that one time pair of the camera-hour shares a group (the same-cell case of
--         int_flow_hourly_components, fictitious floor included: macro expected_same_group_pairs_within_cell)
-- Under the pairwise linkage a double lands in its original's group with probability p, like any other
-- re-sighting of a person, so the excess M_L - B_L is about (p - s) D with D the camera-hour's doubles;
-- int_double_count_rates_daily turns it into a rate. Passes are counted per (camera, group, second) and
-- joined on (camera, second) with the L offsets spelled out: a few million candidate pairs a day at
-- 20,000 visitors/h, where a join on (camera, group) alone would make billions.
-- Whole days are read (like the chance rate s): an hour's figures do not depend on the run's extent.
with run as (
    select
        *,
        epoch(days_start) as days_start_s,
        epoch(days_end) as days_end_s
    from {{ ref('int_run_window') }}
),

offsets as (
    select cast(lag_s as bigint) as lag_s
    from range(1, {{ var('double_count_max_lag_seconds') }} + 1) as lags(lag_s)
),

by_group as (
    select occ.camera_idx, occ.group_id, occ.t, count(*) as passes
    from {{ ref('int_occurrences_read') }} as occ, run
    where occ.t >= run.days_start_s and occ.t < run.days_end_s + {{ var('double_count_max_lag_seconds') }}
    group by all
),

pairs as (
    select
        first_pass.camera_idx,
        cast(first_pass.t // 3600 as integer) as hour_idx,
        sum(first_pass.passes * later_pass.passes) as time_pairs,
        sum(
            case when first_pass.group_id = later_pass.group_id then first_pass.passes * later_pass.passes else 0 end
        ) as same_group_pairs
    from by_group as first_pass
    cross join offsets
    inner join by_group as later_pass
        on first_pass.camera_idx = later_pass.camera_idx
        and later_pass.t = first_pass.t + offsets.lag_s
    cross join run
    where first_pass.t < run.days_end_s
    group by all
),

cells as (
    select
        totals.camera_idx,
        totals.hour_idx,
        {{ site_day(hour_from_index('totals.hour_idx'), 'run.timezone') }} as site_day,
        totals.events_total,
        totals.real_events,
        totals.fictitious_emitted,
        floor(coalesce(totals.fictitious_plan_per_group, 0)) as fictitious_floor,
        run.n_groups
    from {{ ref('int_camera_hour_totals') }} as totals
    cross join run
    where totals.hour_idx >= run.days_start_s // 3600 and totals.hour_idx < run.days_end_s // 3600
),

rated as (
    select
        cells.*,
        rate.chance_rate,
        {{ chance_per_time_pair_within_cell(
            'cells.events_total', 'cells.real_events', 'cells.fictitious_emitted', 'cells.fictitious_floor',
            'rate.chance_rate', 'cells.n_groups') }} as chance_per_time_pair
    from cells
    inner join {{ ref('int_chance_rate_daily') }} as rate on cells.site_day = rate.site_day
)

select
    rated.camera_idx,
    rated.hour_idx,
    rated.site_day,
    cast(rated.real_events as bigint) as real_passes,
    cast(coalesce(pairs.same_group_pairs, 0) as bigint) as same_group_pairs,
    cast(coalesce(pairs.time_pairs, 0) as bigint) as time_pairs,
    coalesce(pairs.time_pairs, 0) * rated.chance_per_time_pair as chance_expectation,
    coalesce(pairs.same_group_pairs, 0) - coalesce(pairs.time_pairs, 0) * rated.chance_per_time_pair
        as excess_pairs
from rated
left join pairs on rated.camera_idx = pairs.camera_idx and rated.hour_idx = pairs.hour_idx
