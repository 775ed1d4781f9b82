{{ config(pre_hook="{{ delete_requested_days('site_day') }}") }}
-- The re-identification rate p per site-local day: the chance that one person's two sightings land
-- in the same group. Every real store door-in is followed by exactly one door-out of that store, so
--   p = s + sum (M - B)[door in -> door out, lag <= visit_max_lag_minutes] / sum R[door in].
-- Its standard error has two parts: the pair counts (the larger of a Poisson value and a jackknife over
-- origin hours, see pair_sds) and the chance rate s, through dp/ds = 1 - (dB/ds) / R, with
-- dB/ds = sum T R1 R2 / (n1 n2) large at busy stores (a 1e-7 error in s moves p by about 0.002 at
-- 20,000 visitors/h).
-- People coming back to the store within the window add door-in -> door-out pairs that are no visit (first
-- in, second out): about +0.005 to p at 20,000 visitors/h in the simulator (8 % return). Subtracting the
-- door-out -> later door-in excess removes that but adds as much noise again (p's sd 0.013 -> 0.018 at
-- 5,000/h), a worse mean squared error at every traffic level measured: not done.
-- The sensor's double counts (split tracks) inflate both sides: a doubled door-in adds a door-in and its visit's
-- pair again, a doubled door-out adds the pair again. With d the share of a camera's real passes that are
-- doubles (int_double_count_rates_daily), a door pair's excess is scaled by (1 - d_in)(1 - d_out) and the
-- door-ins by (1 - d_in) before the ratio (else p comes out (1 - d_out) high). d = e / (p - s) needs p: the
-- day's uncorrected pooled p (one fixed-point step; the error is of order d^2, 1e-4 relative).
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
        origins.hour_idx,
        origins.origin_real,
        coalesce(pair_counts.same_group_pairs, 0) as same_group_pairs,
        coalesce(chance.chance_expectation, 0) as chance_expectation,
        coalesce(chance.chance_rate_sensitivity, 0) as chance_rate_sensitivity
    from {{ ref('int_visit_origin_hours') }} as origins
    left join pair_counts on origins.scope_id = pair_counts.scope_id and origins.hour_idx = pair_counts.hour_idx
    left join chance on origins.scope_id = chance.scope_id and origins.hour_idx = chance.hour_idx
    where origins.visit_scope = 'store'
),

-- Per store and day: the door cameras' double-count excess per real pass e (real-pass weighted if a
-- store has several door cameras of a role), and the day's uncorrected pooled p - s it is divided by.
door_doubles as (
    select
        doors.site_day,
        doors.store_id,
        sum(doors.door_in_excess * doors.door_in_passes) / nullif(sum(doors.door_in_passes), 0) as door_in_excess,
        sum(doors.door_out_excess * doors.door_out_passes) / nullif(sum(doors.door_out_passes), 0) as door_out_excess
    from (
        select
            rates.site_day,
            cameras.store_id,
            case when cameras.role = 'store_door_in' then rates.applied_excess_per_pass end as door_in_excess,
            case when cameras.role = 'store_door_in' then rates.real_passes end as door_in_passes,
            case when cameras.role = 'store_door_out' then rates.applied_excess_per_pass end as door_out_excess,
            case when cameras.role = 'store_door_out' then rates.real_passes end as door_out_passes
        from {{ ref('int_double_count_rates_daily') }} as rates
        inner join {{ ref('int_camera_index') }} as cameras on rates.camera_idx = cameras.camera_idx
        where cameras.role in ('store_door_in', 'store_door_out')
    ) as doors
    group by all
),

uncorrected as (
    select site_day, sum(same_group_pairs - chance_expectation) / nullif(sum(origin_real), 0) as raw_excess_rate
    from store_hours
    group by site_day
),

-- d = e / (p - s) per door camera; the factors are 1 where nothing is corrected or p - s is unknown.
corrected_store_hours as (
    select
        store_hours.*,
        case
            when uncorrected.raw_excess_rate > 0 then
                (1 - least(coalesce(door_doubles.door_in_excess, 0) / uncorrected.raw_excess_rate, 1))
            else 1
        end as door_in_factor,
        case
            when uncorrected.raw_excess_rate > 0 then
                (1 - least(coalesce(door_doubles.door_out_excess, 0) / uncorrected.raw_excess_rate, 1))
            else 1
        end as door_out_factor
    from store_hours
    left join door_doubles
        on store_hours.site_day = door_doubles.site_day and store_hours.store_id = door_doubles.store_id
    left join uncorrected on store_hours.site_day = uncorrected.site_day
),

-- The hour rows of each scope: one store's door pair, or all stores pooled per origin hour (an hour
-- holds a shopper's door-ins at several stores, hence their correlated chance pairs). origin_real and
-- excess_pairs are net of the double counts (the factors above); the raw counts stay beside.
scope_hours as (
    select
        site_day, 'store' as calibration_scope, store_id, hour_idx, origin_real as door_in_real_raw,
        origin_real * door_in_factor as origin_real, same_group_pairs, chance_expectation,
        (same_group_pairs - chance_expectation) * door_in_factor * door_out_factor as excess_pairs,
        chance_rate_sensitivity * door_in_factor * door_out_factor as chance_rate_sensitivity
    from corrected_store_hours
    union all
    select
        site_day, 'all_stores' as calibration_scope, null as store_id, hour_idx, sum(origin_real),
        sum(origin_real * door_in_factor), sum(same_group_pairs), sum(chance_expectation),
        sum((same_group_pairs - chance_expectation) * door_in_factor * door_out_factor),
        sum(chance_rate_sensitivity * door_in_factor * door_out_factor)
    from corrected_store_hours
    group by site_day, hour_idx
),

by_scope as (
    select
        site_day,
        calibration_scope,
        store_id,
        sum(door_in_real_raw) as door_in_real_raw,
        sum(origin_real) as door_in_real,
        sum(same_group_pairs) as same_group_pairs,
        sum(chance_expectation) as chance_expectation,
        sum(excess_pairs) as excess_pairs,
        sum(chance_rate_sensitivity) as chance_rate_sensitivity,
        count(*) filter (where origin_real > 0) as origin_hours
    from scope_hours
    group by all
),

-- Delete-one-hour jackknife of the ratio sum (M - B) / sum R: the replicate without hour h. The chance
-- rate s is the same in every replicate, so it drops out of their spread (its error is the separate
-- chance-rate term below).
replicates as (
    select
        hours.site_day,
        hours.calibration_scope,
        hours.store_id,
        (totals.excess_pairs - hours.excess_pairs) / nullif(totals.door_in_real - hours.origin_real, 0)
            as excess_rate_without_hour
    from scope_hours as hours
    inner join by_scope as totals
        on hours.site_day = totals.site_day
        and hours.calibration_scope = totals.calibration_scope
        and hours.store_id is not distinct from totals.store_id
),

-- Var = (n - 1) / n * sum (replicate - mean)^2 over the n hours = (n - 1) * var_pop(replicate).
jackknife as (
    select
        site_day,
        calibration_scope,
        store_id,
        (count(excess_rate_without_hour) - 1) * var_pop(excess_rate_without_hour) as jackknife_variance
    from replicates
    group by all
),

estimates as (
    select
        by_scope.*,
        rate.chance_rate,
        rate.chance_rate_sd,
        case
            when by_scope.door_in_real >= {{ var('p_estimate_min_door_ins') }}
                then rate.chance_rate + by_scope.excess_pairs / by_scope.door_in_real
        end as p_estimate
    from by_scope
    inner join {{ ref('int_chance_rate_daily') }} as rate on by_scope.site_day = rate.site_day
),

-- The pair-count part of p's sd two ways. Poisson: B chance pairs Poisson, (M - B)(1 - p) true pairs
-- binomial. Blind to pairs that come several at once (two shoppers walking together whose groups coincide
-- add a pair at every store they share), and to p changing during the day; the jackknife over origin hours
-- sees both, as hour-to-hour scatter. The larger of the two, because the jackknife alone is noisy: with n
-- hours its relative error is about 1 / sqrt(2 (n - 1)), 21 % for 12 equal hours and more when hours differ
-- in size, so it would often dip below a Poisson value that is right. (At busy sites the Poisson value is on
-- the safe side: the fictitious floor's pairs in B are nearly fixed by the counts, not Poisson; the jackknife
-- comes out below it on the simulator, 0.004-0.006 against 0.007 at 20,000 visitors/h.) Neither sees an
-- error common to all hours of the day (s has its own term below). Below p_jackknife_min_hours origin hours
-- with door-ins (a day's first hours) the jackknife rests on too few replicates: the Poisson value alone.
pair_sds as (
    select
        estimates.*,
        sqrt(chance_expectation + greatest(excess_pairs, 0) * (1 - least(greatest(p_estimate, 0), 1)))
            / nullif(door_in_real, 0) as pair_sd_poisson,
        case
            when origin_hours >= greatest({{ var('p_jackknife_min_hours') }}, 2)
                then sqrt(jackknife.jackknife_variance)
        end as pair_sd_jackknife
    from estimates
    inner join jackknife
        on estimates.site_day = jackknife.site_day
        and estimates.calibration_scope = jackknife.calibration_scope
        and estimates.store_id is not distinct from jackknife.store_id
),

with_sd as (
    select
        *,
        sqrt(
            power(greatest(pair_sd_poisson, coalesce(pair_sd_jackknife, 0)), 2)
            + power((1 - chance_rate_sensitivity / nullif(door_in_real, 0)) * chance_rate_sd, 2)
        ) as p_sd_raw
    from pair_sds
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
    cast(with_sd.door_in_real_raw as bigint) as door_in_real,
    with_sd.door_in_real as door_in_net_of_doubles,
    cast(with_sd.same_group_pairs as bigint) as same_group_pairs,
    with_sd.chance_expectation,
    with_sd.excess_pairs,
    with_sd.chance_rate,
    with_sd.p_estimate,
    cast(with_sd.origin_hours as bigint) as origin_hours,
    case when with_sd.p_estimate is not null then with_sd.pair_sd_poisson end as pair_sd_poisson,
    case when with_sd.p_estimate is not null then with_sd.pair_sd_jackknife end as pair_sd_jackknife,
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
