-- Per ordered camera pair and origin hour: the raw same-group pair count M, the chance expectation B
-- and what the interval needs. For origin hour h1 and destination hour h2 the chance that an
-- unrelated pair shares a group is
--   S = [R1 R2 s + (R1 f2 + R2 f1) / G + f1 f2 / G] / (n1 n2)
-- with n the passes stored, f the fictitious passes emitted (heartbeats), R = n - f the real ones,
-- G the number of groups and s the day's chance rate. Fictitious persons are uniform over groups, so
-- f / G is the realised per-group fictitious count (its expectation is the published plan lambda;
-- the realised value removes the plan's own Poisson noise). B = sum over h2 of T(h1, h2) S(h1, h2).
-- A camera paired with itself in the same hour draws both passes from one cell, whose fictitious
-- counts are floor(lambda) per group plus Poisson (individ.fictitious): there
--   S = [R (R - 1) s + 2 R f / G + f^2 / G - G F - (f - G F) / G] / (n (n - 1)),  F = floor(lambda),
-- the fixed floor making same-group fictitious pairs rarer than f^2 / G (macro
-- expected_same_group_pairs_within_cell, shared with int_double_count_pairs).
-- The direct_* columns are the same quantities for the direct lag D (pairs within D <= W).
with run as (
    select * from {{ ref('int_run_window') }}
),

totals as (
    select * from {{ ref('int_camera_hour_totals') }}
),

chance as (
    select
        pairs.origin_idx,
        pairs.destination_idx,
        pairs.hour_idx,
        {{ site_day(hour_from_index('pairs.hour_idx'), 'run.timezone') }} as site_day,
        pairs.destination_hour_idx,
        pairs.time_pairs,
        pairs.same_group_pairs,
        pairs.direct_time_pairs,
        pairs.direct_same_group_pairs,
        origin.events_total as origin_events,
        origin.real_events as origin_real,
        origin.fictitious_emitted as origin_fictitious,
        destination.events_total as destination_events,
        destination.real_events as destination_real,
        destination.fictitious_emitted as destination_fictitious,
        pairs.origin_idx = pairs.destination_idx and pairs.hour_idx = pairs.destination_hour_idx as same_cell,
        floor(coalesce(origin.fictitious_plan_per_group, 0)) as fictitious_floor,
        greatest(
            origin.fictitious_emitted - floor(coalesce(origin.fictitious_plan_per_group, 0)) * run.n_groups, 0
        ) as origin_fictitious_random,
        greatest(
            destination.fictitious_emitted - floor(coalesce(destination.fictitious_plan_per_group, 0)) * run.n_groups, 0
        ) as destination_fictitious_random,
        run.n_groups,
        run.max_lag_minutes
    from {{ ref('int_flow_pair_counts') }} as pairs
    cross join run
    inner join totals as origin
        on pairs.origin_idx = origin.camera_idx and pairs.hour_idx = origin.hour_idx
    inner join totals as destination
        on pairs.destination_idx = destination.camera_idx and pairs.destination_hour_idx = destination.hour_idx
),

-- Per slot (origin hour, destination hour): S, the chance that one time pair shares a group; the
-- part of S owed to the fictitious floor (fixed counts per group: given the counts, only the time
-- window makes it vary, so its variance is that part times (1 - w), w = T / (n1 n2)); and dS/ds.
slot_rates as (
    select
        chance.*,
        rate.chance_rate,
        rate.chance_rate_sd,
        rate.group_size_cv2,
        case
            when not chance.same_cell then
                {{ expected_same_group_pairs(
                    'chance.origin_real', 'chance.origin_fictitious',
                    'chance.destination_real', 'chance.destination_fictitious',
                    'rate.chance_rate', 'chance.n_groups') }}
                / (cast(chance.origin_events as double) * chance.destination_events)
            else
                {{ chance_per_time_pair_within_cell(
                    'chance.origin_events', 'chance.origin_real', 'chance.origin_fictitious', 'chance.fictitious_floor',
                    'rate.chance_rate', 'chance.n_groups') }}
        end as chance_per_time_pair,
        case
            when not chance.same_cell then
                (
                    (chance.origin_real * (chance.destination_fictitious - chance.destination_fictitious_random)
                        + chance.destination_real * (chance.origin_fictitious - chance.origin_fictitious_random))
                    / chance.n_groups
                    + (chance.origin_fictitious * chance.destination_fictitious
                        - chance.origin_fictitious_random * chance.destination_fictitious_random) / chance.n_groups
                )
                / power(cast(chance.origin_events as double) * chance.destination_events, 2)
            else 0
        end as floor_variance_per_squared_time_pair,
        chance.origin_real * chance.destination_real
            / (cast(chance.origin_events as double) * chance.destination_events) as rate_sensitivity_per_time_pair
    from chance
    inner join {{ ref('int_chance_rate_daily') }} as rate on chance.site_day = rate.site_day
),

chance_by_hour as (
    select
        origin_idx,
        destination_idx,
        hour_idx,
        site_day,
        any_value(origin_events) as origin_events,
        any_value(origin_real) as origin_real,
        sum(case when destination_hour_idx = hour_idx then destination_events else 0 end)
            as destination_events_same_hour,
        any_value(n_groups) as n_groups,
        any_value(max_lag_minutes) as max_lag_minutes,
        any_value(chance_rate) as chance_rate,
        any_value(chance_rate_sd) as chance_rate_sd,
        any_value(group_size_cv2) as group_size_cv2,
        cast(sum(time_pairs) as bigint) as time_pairs,
        cast(sum(same_group_pairs) as bigint) as same_group_pairs,
        sum(time_pairs * chance_per_time_pair) as chance_expectation,
        sum(time_pairs * time_pairs * floor_variance_per_squared_time_pair) as chance_floor_variance_reduction,
        sum(time_pairs * rate_sensitivity_per_time_pair) as chance_rate_sensitivity,
        cast(sum(direct_time_pairs) as bigint) as direct_time_pairs,
        cast(sum(direct_same_group_pairs) as bigint) as direct_same_group_pairs,
        sum(direct_time_pairs * chance_per_time_pair) as direct_chance_expectation,
        sum(direct_time_pairs * direct_time_pairs * floor_variance_per_squared_time_pair)
            as direct_chance_floor_variance_reduction,
        sum(direct_time_pairs * rate_sensitivity_per_time_pair) as direct_chance_rate_sensitivity
    from slot_rates
    group by origin_idx, destination_idx, hour_idx, site_day
)

select
    chance_by_hour.origin_idx,
    chance_by_hour.destination_idx,
    chance_by_hour.hour_idx,
    chance_by_hour.site_day,
    chance_by_hour.same_group_pairs,
    chance_by_hour.time_pairs,
    chance_by_hour.chance_expectation,
    chance_by_hour.chance_floor_variance_reduction,
    chance_by_hour.chance_rate,
    chance_by_hour.chance_rate_sd,
    chance_by_hour.chance_rate_sensitivity,
    chance_by_hour.direct_same_group_pairs,
    chance_by_hour.direct_time_pairs,
    chance_by_hour.direct_chance_expectation,
    chance_by_hour.direct_chance_floor_variance_reduction,
    chance_by_hour.direct_chance_rate_sensitivity,
    chance_by_hour.origin_events,
    chance_by_hour.origin_real,
    -- Over-dispersion of M: pairs sharing a pass are correlated when groups differ in size,
    -- Cov ~ cv2 / G^2 per pair of pairs, i.e. Var(M) ~ B [1 + cv2 / (G (1 + cv2)) (k_A + k_B)] with
    -- k_A the B partners per A pass (T / n_A) and k_B the A partners per B pass.
    1 + chance_by_hour.group_size_cv2 / (chance_by_hour.n_groups * (1 + chance_by_hour.group_size_cv2))
        * (
            chance_by_hour.time_pairs / greatest(chance_by_hour.origin_events, 1)
            + chance_by_hour.time_pairs / greatest(
                chance_by_hour.destination_events_same_hour * (1 + chance_by_hour.max_lag_minutes / 60.0), 1
            )
        ) as chance_overdispersion
from chance_by_hour
