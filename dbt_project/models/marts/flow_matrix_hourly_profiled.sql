{{ config(pre_hook="{{ delete_requested_days('site_day') }}") }}
-- Hourly flows with less chance noise: a walk straight from A to B takes a minute or two of the
-- max_lag_minutes window, while chance pairs spread evenly over it. So the hour's share of the pair's
-- day is read from the direct pairs (lag <= D) and the day's full-window excess is spread by it:
--   F_h = E_D(h) r / (p - s),  r = E(day) / E_D(day)
-- with E = M - B (full window) and E_D the same within D. The hours of a day sum to flow_matrix_daily,
-- and nothing is assumed about the shape of the lags but that a pair's share within D is the same in
-- every hour of the day. Where the day's direct excess is not clearly above its noise
-- (E_D(day) < flow_profile_min_z sd) r is unreliable, and where the lag profile's variance over the
-- day is not below the full window's it gains nothing: there the hours keep flow_matrix_hourly's
-- estimate.
-- Variance (delta method, the direct and the later lags disjoint, so independent):
--   Var(F_h) = [r^2 (Var E_D(h) + (dB_D/ds)^2 sd_s^2) + E_D(h)^2 Var(r)] / (p - s)^2 + F_h^2 sd_p^2 / (p - s)^2
--   Var(r) = Var(E_L) / E_D^2 + E_L^2 Var(E_D) / E_D^4,  E_L = E(day) - E_D(day)
-- Rebuilt per site-local day from the stored hours, so an hour's figure settles when its day is complete.
-- The hourly excesses are net of the sensor's double counts (flow_matrix_hourly): the day's factor c scales
-- E_D(h) and E(day) alike, so r is unchanged and F_h carries c once; c's uncertainty adds F_h^2 (sd_c / c)^2.
with run as (
    select * from {{ ref('int_run_window') }}
),

hourly as (
    select *
    from {{ ref('flow_matrix_hourly') }}
    where site_day between (select first_day from run) and (select last_day from run)
),

day_profile as (
    select
        site_day,
        origin_camera_id,
        destination_camera_id,
        sum(excess_pairs) as day_excess_pairs,
        sum(direct_excess_pairs) as day_direct_excess_pairs,
        sum(pair_count_variance) as day_pair_count_variance,
        sum(direct_pair_count_variance) as day_direct_pair_count_variance
    from hourly
    group by all
),

ratios as (
    select
        *,
        day_excess_pairs - day_direct_excess_pairs as day_later_excess_pairs,
        day_direct_excess_pairs >= {{ var('flow_profile_min_z') }} * sqrt(day_direct_pair_count_variance)
            and day_direct_excess_pairs > 0 and day_excess_pairs > 0 as is_profiled
    from day_profile
),

profiles as (
    select
        *,
        case when is_profiled then day_excess_pairs / day_direct_excess_pairs end as profile_ratio,
        case
            when is_profiled then
                greatest(day_pair_count_variance - day_direct_pair_count_variance, 0)
                    / power(day_direct_excess_pairs, 2)
                + power(day_later_excess_pairs, 2) * day_direct_pair_count_variance
                    / power(day_direct_excess_pairs, 4)
        end as profile_ratio_variance
    from ratios
),

candidates as (
    select
        hourly.*,
        profiles.profile_ratio,
        case
            when profiles.is_profiled then {{ flow_estimate('hourly.direct_excess_pairs * profiles.profile_ratio') }}
        end as profiled_flow,
        profiles.profile_ratio_variance
    from hourly
    inner join profiles
        on hourly.site_day = profiles.site_day
        and hourly.origin_camera_id = profiles.origin_camera_id
        and hourly.destination_camera_id = profiles.destination_camera_id
),

candidates_se as (
    select
        *,
        {{ flow_standard_error(
            pair_count_variance='power(profile_ratio, 2) * direct_pair_count_variance'
                ~ ' + power(direct_excess_pairs, 2) * profile_ratio_variance'
                ~ ' + power(direct_excess_pairs * profile_ratio * double_count_factor_sd / double_count_factor, 2)',
            chance_rate_sensitivity='profile_ratio * direct_chance_rate_sensitivity',
            estimated_flow='profiled_flow') }} as profiled_flow_se
    from candidates
),

-- A pair whose later lags carry most of its excess (a store's door in -> door out) gains nothing from
-- its few direct pairs: the lag profile is used where its variance over the day is the smaller one.
-- Every hour's figure depends on the pair's whole day (r, this choice), so the sources of s and p shown
-- are the least settled of the day's hours.
choice as (
    select
        site_day,
        origin_camera_id,
        destination_camera_id,
        coalesce(sum(power(profiled_flow_se, 2)) < sum(power(flow_se, 2)), false) as use_profile,
        {{ least_settled_chance_rate_method() }} as chance_rate_method,
        {{ least_settled_p_source() }} as p_source
    from candidates_se
    group by all
),

final as (
    select
        candidates_se.* exclude (estimated_flow, flow_se, chance_rate_method, p_source),
        choice.use_profile,
        choice.chance_rate_method,
        choice.p_source,
        candidates_se.estimated_flow as full_window_flow,
        case when choice.use_profile then candidates_se.profiled_flow else candidates_se.estimated_flow end
            as estimated_flow,
        case when choice.use_profile then candidates_se.profiled_flow_se else candidates_se.flow_se end as flow_se
    from candidates_se
    inner join choice
        on candidates_se.site_day = choice.site_day
        and candidates_se.origin_camera_id = choice.origin_camera_id
        and candidates_se.destination_camera_id = choice.destination_camera_id
)

select
    hour_start,
    site_day,
    origin_camera_id,
    destination_camera_id,
    origin_role,
    destination_role,
    origin_store_id,
    destination_store_id,
    origin_zone,
    destination_zone,
    estimated_flow,
    {{ flow_interval_columns() }},
    flow_se,
    {{ is_provisional() }} as is_provisional,
    case when use_profile then 'lag_profile' else 'full_window' end as estimator,
    case when use_profile then profile_ratio end as profile_ratio,
    full_window_flow,
    same_group_pairs,
    chance_expectation,
    direct_same_group_pairs,
    direct_chance_expectation,
    direct_excess_pairs,
    p_used,
    p_source,
    chance_rate,
    chance_rate_method,
    max_lag_minutes,
    direct_lag_minutes
from final
