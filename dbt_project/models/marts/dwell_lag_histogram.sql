{{ config(pre_hook="{{ delete_requested_days('site_day') }}") }}
-- Visit lag histogram per scope (a store: door in -> door out; the site: entrance -> exit), per hour
-- of the origin pass and per site-local day, by 1-minute lag bin, after chance subtraction:
--   e(d) = M(d) - B(d);  share(d) = e(d) / (R (p - s));  C(d) = running max of sum_{d' <= d} share(d')
-- R is the real number of origin passes (door-ins or entrance passes) in the period, so C(d) is the
-- share of them who left within d minutes. Whole days are rebuilt, every hour of each day included.
-- Double counts (double_count_rates): a doubled origin pass adds an origin pass and its visit's pairs, a doubled
-- destination pass adds the pairs again, in every lag bin alike. Net of them e(d) is (1 - d_in)(1 - d_out) e(d)
-- and R is (1 - d_in) R, so share(d) = (1 - d_out) e(d) / (R (p - s)), d_out the scope's destination cameras'
-- rate (real-pass weighted; one camera for a store). The shapes and the dwell medians barely move; the scale
-- must, because p is now net of double counts too (reidentification_calibration).
with run as (
    select * from {{ ref('int_run_window') }}
),

rates as (
    {{ p_used_by_day() }}
),

bins as (
    select
        coalesce(pairs.visit_scope, chance.visit_scope) as visit_scope,
        coalesce(pairs.scope_id, chance.scope_id) as scope_id,
        coalesce(pairs.hour_idx, chance.hour_idx) as hour_idx,
        coalesce(pairs.lag_minute, chance.lag_minute) as lag_minute,
        coalesce(pairs.same_group_pairs, 0) as same_group_pairs,
        coalesce(chance.chance_expectation, 0) as chance_expectation
    from {{ ref('int_visit_lag_pair_counts') }} as pairs
    full outer join {{ ref('int_visit_lag_chance') }} as chance
        on pairs.visit_scope = chance.visit_scope
        and pairs.scope_id = chance.scope_id
        and pairs.hour_idx = chance.hour_idx
        and pairs.lag_minute = chance.lag_minute
),

scope_doubles as (
    select
        rates.site_day,
        pairs.visit_scope,
        pairs.scope_id,
        coalesce(sum(rates.double_count_rate * rates.real_passes) / nullif(sum(rates.real_passes), 0), 0)
            as destination_double_count_rate
    from (select distinct visit_scope, scope_id, destination_idx from {{ ref('int_visit_camera_pairs') }}) as pairs
    inner join {{ ref('int_camera_index') }} as cameras on pairs.destination_idx = cameras.camera_idx
    inner join {{ ref('double_count_rates') }} as rates on cameras.camera_id = rates.camera_id
    cross join run
    where rates.site_day between run.first_day and run.last_day
    group by all
),

-- Every (scope, hour) with origin passes gets every lag bin, so empty bins show as zeros.
grid as (
    select origins.*, lags.lag_minute
    from {{ ref('int_visit_origin_hours') }} as origins
    cross join run
    cross join generate_series(1, cast(run.visit_lag_s // 60 as integer)) as lags(lag_minute)
    where origins.site_day between run.first_day and run.last_day
),

hourly as (
    select
        'hour' as period,
        {{ hour_from_index('grid.hour_idx') }} as hour_start,
        grid.site_day,
        grid.visit_scope,
        grid.scope_id,
        grid.lag_minute,
        grid.origin_real,
        coalesce(bins.same_group_pairs, 0) as same_group_pairs,
        coalesce(bins.chance_expectation, 0) as chance_expectation
    from grid
    left join bins
        on grid.visit_scope = bins.visit_scope
        and grid.scope_id = bins.scope_id
        and grid.hour_idx = bins.hour_idx
        and grid.lag_minute = bins.lag_minute
),

daily as (
    select
        'day' as period,
        cast(null as timestamp) as hour_start,
        site_day,
        visit_scope,
        scope_id,
        lag_minute,
        sum(origin_real) as origin_real,
        sum(same_group_pairs) as same_group_pairs,
        sum(chance_expectation) as chance_expectation
    from hourly
    group by all
),

periods as (
    select * from hourly
    union all
    select * from daily
),

shares as (
    select
        periods.*,
        rates.p_used,
        rates.p_sd,
        rates.chance_rate,
        periods.same_group_pairs - periods.chance_expectation as excess_pairs,
        -- Var(e) ~ B (chance pairs) + max(e, 0)(1 - p) (true pairs).
        periods.chance_expectation
            + greatest(periods.same_group_pairs - periods.chance_expectation, 0) * (1 - least(rates.p_used, 1))
            as excess_variance,
        coalesce(scope_doubles.destination_double_count_rate, 0) as destination_double_count_rate,
        nullif(periods.origin_real * (rates.p_used - rates.chance_rate), 0)
            / (1 - coalesce(scope_doubles.destination_double_count_rate, 0)) as share_denominator
    from periods
    inner join rates on periods.site_day = rates.site_day
    left join scope_doubles
        on periods.site_day = scope_doubles.site_day
        and periods.visit_scope = scope_doubles.visit_scope
        and periods.scope_id = scope_doubles.scope_id
),

cumulative as (
    select
        *,
        sum(excess_pairs) over period_lags / share_denominator as cumulative_raw,
        sqrt(sum(excess_variance) over period_lags) / share_denominator as cumulative_sd_counts
    from shares
    window period_lags as (
        partition by period, hour_start, site_day, visit_scope, scope_id
        order by lag_minute rows between unbounded preceding and current row
    )
),

bounded as (
    select
        *,
        max(cumulative_raw) over period_lags as cumulative_share,
        -- Interval of C(d): counting noise plus the relative uncertainty of p - s.
        sqrt(
            power(cumulative_sd_counts, 2)
            + power(cumulative_raw * p_sd / nullif(p_used - chance_rate, 0), 2)
        ) as cumulative_sd
    from cumulative
    window period_lags as (
        partition by period, hour_start, site_day, visit_scope, scope_id
        order by lag_minute rows between unbounded preceding and current row
    )
)

select
    period,
    hour_start,
    site_day,
    visit_scope,
    scope_id,
    lag_minute,
    cast(origin_real as bigint) as origin_real,
    cast(same_group_pairs as bigint) as same_group_pairs,
    chance_expectation,
    excess_pairs,
    excess_pairs - {{ var('interval_z') }} * sqrt(excess_variance) as excess_ci_low,
    excess_pairs + {{ var('interval_z') }} * sqrt(excess_variance) as excess_ci_high,
    excess_pairs / share_denominator as visit_share,
    cumulative_share,
    cumulative_share - {{ var('interval_z') }} * cumulative_sd as cumulative_share_ci_low,
    cumulative_share + {{ var('interval_z') }} * cumulative_sd as cumulative_share_ci_high,
    p_used,
    chance_rate,
    destination_double_count_rate
from bounded
