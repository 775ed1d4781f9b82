-- The chance rate s per site-local day: the probability that two unrelated real passes share a group
-- (sum over groups of pi_g^2). Fitted from same-group pair counts between hours at least
-- chance_fit_min_hour_gap apart (no person spans them), after removing the fictitious passes'
-- expected share: E[Q] = R1 R2 s + (R1 f2 + R2 f1) / G + f1 f2 / G for hours 1, 2.
-- A day without such hour pairs yet (its first hours) takes the previous day's fit, else balanced
-- groups s = 1/G (flagged in chance_rate_method): such flows are provisional until the day has more
-- data and its hours are materialized again. (The day's own group frequencies are no fallback: each
-- person's repeated sightings inflate them.)
-- The standard error of s is not Poisson: one person's several passes in an hour mostly share a group,
-- so group counts are over-dispersed. With phi_h = Var_g(passes) / mean_g(passes) per hour,
-- Var(Q_h1h2) ~ Q_h1h2 phi_h1 phi_h2 (a simulation of clustered passes matched it within 5 %, where
-- the Poisson value was 3.6-3.8 times too small).
with run as (
    select * from {{ ref('int_run_window') }}
),

-- Passes per hour and group first (the previous day included); the site-local day is then attached
-- per hour, not per pass.
group_hours as (
    select
        {{ site_day('counts.hour_start', 'run.timezone') }} as site_day,
        cast(epoch(counts.hour_start) // 3600 as integer) as hour_idx,
        counts.group_id,
        counts.passes
    from (
        select occ.hour_start, occ.group_id, count(*) as passes
        from {{ ref('stg_occurrences') }} as occ, run
        where occ.observed_at >= run.fit_start and occ.observed_at < run.days_end
        group by all
    ) as counts
    cross join run
),

-- Over-dispersion of the group counts per hour (groups without a pass count as zeros).
dispersion as (
    select
        group_hours.hour_idx,
        (sum(cast(group_hours.passes as double) * group_hours.passes) / any_value(run.n_groups)
            - power(sum(group_hours.passes) / any_value(run.n_groups), 2))
        / (sum(group_hours.passes) / any_value(run.n_groups)) as dispersion
    from group_hours, run
    group by group_hours.hour_idx
),

-- The fictitious passes of each hour over all cameras (heartbeats, or the plan where a camera-hour's
-- heartbeats account for none of its passes: int_camera_hour_fictitious).
fictitious_hours as (
    select hours.hour_start, sum(hours.fictitious_passes) as fictitious
    from {{ ref('int_camera_hour_fictitious') }} as hours, run
    where hours.hour_start >= date_trunc('hour', run.fit_start) and hours.hour_start < run.days_end
    group by all
),

hours as (
    select
        group_hours.site_day,
        group_hours.hour_idx,
        sum(group_hours.passes) as events_total,
        coalesce(any_value(fictitious_hours.fictitious), 0) as fictitious,
        greatest(sum(group_hours.passes) - coalesce(any_value(fictitious_hours.fictitious), 0), 0) as real_events
    from group_hours
    left join fictitious_hours
        on group_hours.hour_idx = cast(epoch(fictitious_hours.hour_start) // 3600 as integer)
    group by group_hours.site_day, group_hours.hour_idx
),

far_pairs as (
    select
        first_hour.site_day,
        first_hour.hour_idx as hour_1,
        second_hour.hour_idx as hour_2,
        sum(cast(first_hour.passes as double) * second_hour.passes) as same_group_pairs
    from group_hours as first_hour
    inner join group_hours as second_hour
        on first_hour.site_day = second_hour.site_day
        and first_hour.group_id = second_hour.group_id
        and second_hour.hour_idx >= first_hour.hour_idx + {{ var('chance_fit_min_hour_gap') }}
    group by all
),

far_fit as (
    select
        pairs.site_day,
        sum(pairs.same_group_pairs) as same_group_pairs,
        sum(pairs.same_group_pairs * d1.dispersion * d2.dispersion) as same_group_pairs_variance,
        sum(
            pairs.same_group_pairs
            - {{ expected_same_group_pairs(
                'h1.real_events', 'h1.fictitious', 'h2.real_events', 'h2.fictitious', 0, 'run.n_groups') }}
        ) as real_same_group_pairs,
        sum(cast(h1.real_events as double) * h2.real_events) as real_pairs,
        count(*) as hour_pairs
    from far_pairs as pairs
    inner join hours as h1 on pairs.site_day = h1.site_day and pairs.hour_1 = h1.hour_idx
    inner join hours as h2 on pairs.site_day = h2.site_day and pairs.hour_2 = h2.hour_idx
    inner join dispersion as d1 on pairs.hour_1 = d1.hour_idx
    inner join dispersion as d2 on pairs.hour_2 = d2.hour_idx
    cross join run
    group by all
),

days as (
    select cast(day_start as date) as site_day, run.n_groups
    from run, generate_series(run.first_day, run.last_day, interval 1 day) as series(day_start)
),

fits as (
    select
        days.site_day,
        coalesce(own.hour_pairs, previous.hour_pairs, 0) as hour_pairs,
        case
            when own.real_pairs > 0 then 'far_hour_pairs'
            when previous.real_pairs > 0 then 'previous_day'
            else 'uniform_groups'
        end as chance_rate_method,
        coalesce(
            own.real_same_group_pairs / nullif(own.real_pairs, 0),
            previous.real_same_group_pairs / nullif(previous.real_pairs, 0)
        ) as chance_rate_raw,
        coalesce(
            sqrt(own.same_group_pairs_variance) / nullif(own.real_pairs, 0),
            sqrt(previous.same_group_pairs_variance) / nullif(previous.real_pairs, 0)
        ) as chance_rate_sd,
        days.n_groups
    from days
    left join far_fit as own on days.site_day = own.site_day
    left join far_fit as previous on days.site_day - 1 = previous.site_day
)

select
    site_day,
    chance_rate_method,
    hour_pairs,
    -- Never below the uniform-groups minimum 1/G: a lower value can only be noise.
    greatest(coalesce(chance_rate_raw, 1.0 / n_groups), 1.0 / n_groups) as chance_rate,
    coalesce(chance_rate_sd, 0) as chance_rate_sd,
    -- Squared coefficient of variation of the group sizes: s = (1 + cv2) / G.
    greatest(coalesce(chance_rate_raw, 1.0 / n_groups) * n_groups - 1, 0) as group_size_cv2
from fits
