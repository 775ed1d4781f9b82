{{ config(pre_hook="{{ delete_requested_days('site_day') }}") }}
-- The re-identification rate p per site-local day: the chance that one person's two sightings land
-- in the same group. Every real store door-in is followed by exactly one door-out of that store, so
--   p = s + sum (M - B)[door in -> door out, lag <= visit_max_lag_minutes] / sum R[door in].
-- Its standard error has two parts: the pair counts (B chance pairs, Poisson; (M - B)(1 - p) true pairs,
-- binomial) and the chance rate s, through dp/ds = 1 - (dB/ds) / R, with dB/ds = sum T R1 R2 / (n1 n2)
-- large at busy stores (a 1e-7 error in s moves p by about 0.002 at 20,000 visitors/h).
-- People coming back to the store within the window add door-in -> door-out pairs that are no visit (first
-- in, second out): about +0.005 to p at 20,000 visitors/h in the simulator (8 % return). Subtracting the
-- door-out -> later door-in excess removes that but adds as much noise again (p's sd 0.013 -> 0.018 at
-- 5,000/h), a worse mean squared error at every traffic level measured: not done.
-- One row for all stores pooled (the estimate the flows use) and one per store (to see whether p
-- differs by camera).
with run as (
    select * from {{ ref('int_run_window') }}
),

pair_counts as (
    select scope_id, hour_idx, sum(same_group_pairs) as same_group_pairs
    from {{ ref('int_visit_lag_pair_counts') }}
    where visit_scope = 'store'
    group by all
),

chance as (
    select
        scope_id, hour_idx, sum(chance_expectation) as chance_expectation,
        sum(chance_rate_sensitivity) as chance_rate_sensitivity
    from {{ ref('int_visit_lag_chance') }}
    where visit_scope = 'store'
    group by all
),

store_hours as (
    select
        origins.site_day,
        origins.scope_id as store_id,
        origins.origin_real,
        coalesce(pair_counts.same_group_pairs, 0) as same_group_pairs,
        coalesce(chance.chance_expectation, 0) as chance_expectation,
        coalesce(chance.chance_rate_sensitivity, 0) as chance_rate_sensitivity
    from {{ ref('int_visit_origin_hours') }} as origins
    left join pair_counts on origins.scope_id = pair_counts.scope_id and origins.hour_idx = pair_counts.hour_idx
    left join chance on origins.scope_id = chance.scope_id and origins.hour_idx = chance.hour_idx
    where origins.visit_scope = 'store'
),

by_scope as (
    select
        site_day,
        'store' as calibration_scope,
        store_id,
        sum(origin_real) as door_in_real,
        sum(same_group_pairs) as same_group_pairs,
        sum(chance_expectation) as chance_expectation,
        sum(chance_rate_sensitivity) as chance_rate_sensitivity
    from store_hours
    group by all
    union all
    select
        site_day,
        'all_stores' as calibration_scope,
        null as store_id,
        sum(origin_real),
        sum(same_group_pairs),
        sum(chance_expectation),
        sum(chance_rate_sensitivity)
    from store_hours
    group by all
),

estimates as (
    select
        by_scope.*,
        by_scope.same_group_pairs - by_scope.chance_expectation as excess_pairs,
        rate.chance_rate,
        rate.chance_rate_sd,
        case
            when by_scope.door_in_real >= {{ var('p_estimate_min_door_ins') }}
                then rate.chance_rate + (by_scope.same_group_pairs - by_scope.chance_expectation) / by_scope.door_in_real
        end as p_estimate
    from by_scope
    inner join {{ ref('int_chance_rate_daily') }} as rate on by_scope.site_day = rate.site_day
),

with_sd as (
    select
        *,
        sqrt(
            (chance_expectation + greatest(excess_pairs, 0) * (1 - least(greatest(p_estimate, 0), 1)))
                / power(nullif(door_in_real, 0), 2)
            + power((1 - chance_rate_sensitivity / nullif(door_in_real, 0)) * chance_rate_sd, 2)
        ) as p_sd_raw
    from estimates
),

-- A day without its own estimate yet (its first hours) borrows the previous day's: from this run
-- if it covers that day, else from the rows stored by an earlier run.
previous_day as (
    select site_day + 1 as site_day, p_estimate as p_previous, p_sd_raw as p_previous_sd
    from with_sd
    where calibration_scope = 'all_stores' and p_estimate is not null
    {%- if is_incremental() %}
    union all
    select stored.site_day + 1, stored.p_used, stored.p_used_sd
    from {{ this }} as stored
    where stored.calibration_scope = 'all_stores'
      and stored.p_source in ('estimate', 'previous_day')
      and stored.site_day not in (select site_day from with_sd)
    {%- endif %}
)

select
    with_sd.site_day,
    with_sd.calibration_scope,
    with_sd.store_id,
    cast(with_sd.door_in_real as bigint) as door_in_real,
    cast(with_sd.same_group_pairs as bigint) as same_group_pairs,
    with_sd.chance_expectation,
    with_sd.excess_pairs,
    with_sd.chance_rate,
    with_sd.p_estimate,
    case when with_sd.p_estimate is not null then with_sd.p_sd_raw end as p_sd,
    with_sd.p_estimate - {{ var('interval_z') }} * with_sd.p_sd_raw as p_ci_low,
    with_sd.p_estimate + {{ var('interval_z') }} * with_sd.p_sd_raw as p_ci_high,
    run.p_override,
    coalesce(run.p_override, pooled.p_estimate, previous_day.p_previous) as p_used,
    case
        when run.p_override is not null then 0
        when pooled.p_estimate is not null then pooled.p_sd_raw
        else previous_day.p_previous_sd
    end as p_used_sd,
    case
        when run.p_override is not null then 'override'
        when pooled.p_estimate is not null then 'estimate'
        when previous_day.p_previous is not null then 'previous_day'
        else 'unavailable'
    end as p_source
from with_sd
cross join run
left join with_sd as pooled
    on with_sd.site_day = pooled.site_day and pooled.calibration_scope = 'all_stores'
left join previous_day on with_sd.site_day = previous_day.site_day
where with_sd.site_day between run.first_day and run.last_day
