-- The sensor's double counts per camera and site-local day, as an excess of same-group pairs per real pass:
--   e = (M_L - B_L) / R = (p - s) d,   d = D / R the share of the camera's real passes that are doubles
-- (int_double_count_pairs; R counts the doubles too, as the sensor emits them). e is kept free of p so that
-- p's own calibration can use it (reidentification_calibration); the double_count_rates mart divides by p - s.
-- Var(M_L - B_L) ~ B_L + max(M_L - B_L, 0): Poisson chance pairs plus the true ones counted as Poisson (a
-- little high: binomial would be (1 - p) of it), never below one pair's worth so that a camera with no pair
-- at all still has a finite weight.
-- Pooling: per camera a day holds only tens of doubles (about 30 % relative error at 5,000 visitors/h), the
-- site pooled a few %. Each camera's rate is shrunk towards the site's by the spread the cameras show beyond
-- their own noise (a DerSimonian-Laird random-effects estimate tau^2 of the between-camera variance):
--   e_applied = w e_camera + (1 - w) e_site,  w = tau^2 / (tau^2 + v_camera)
-- so cameras that split tracks alike share the site's precise figure, and a camera that clearly differs
-- keeps its own. The correction is applied only when the site's excess is at least double_count_min_z
-- standard errors above zero (else e_applied = 0: with no detectable double counts the marts are left as
-- they were, instead of being moved by noise), and e_applied is floored at 0 (a negative rate of doubles is
-- impossible; it would inflate the figures).
with cameras as (
    select
        site_day,
        camera_idx,
        sum(real_passes) as real_passes,
        sum(same_group_pairs) as same_group_pairs,
        sum(time_pairs) as time_pairs,
        sum(chance_expectation) as chance_expectation,
        sum(excess_pairs) as excess_pairs,
        greatest(sum(chance_expectation) + greatest(sum(excess_pairs), 0), 1) as excess_variance
    from {{ ref('int_double_count_pairs') }}
    group by all
),

per_camera as (
    select
        *,
        excess_pairs / nullif(real_passes, 0) as excess_per_pass,
        excess_variance / nullif(power(cast(real_passes as double), 2), 0) as excess_per_pass_variance
    from cameras
),

site as (
    select
        site_day,
        sum(excess_pairs) / nullif(sum(real_passes), 0) as site_excess_per_pass,
        sum(excess_variance) / nullif(power(cast(sum(real_passes) as double), 2), 0) as site_excess_per_pass_variance,
        sum(excess_pairs) / sqrt(sum(excess_variance)) as site_excess_z
    from per_camera
    group by site_day
),

-- DerSimonian-Laird: Q = sum w (e - e_site)^2 with w = 1 / v; tau^2 = max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w)).
heterogeneity as (
    select
        per_camera.site_day,
        greatest(
            (
                sum(power(per_camera.excess_per_pass - site.site_excess_per_pass, 2) / per_camera.excess_per_pass_variance)
                - (count(*) - 1)
            )
            / nullif(
                sum(1 / per_camera.excess_per_pass_variance)
                - sum(1 / power(per_camera.excess_per_pass_variance, 2)) / sum(1 / per_camera.excess_per_pass_variance),
                0
            ),
            0
        ) as between_camera_variance
    from per_camera
    inner join site on per_camera.site_day = site.site_day
    where per_camera.real_passes > 0
    group by per_camera.site_day
),

shrunk as (
    select
        per_camera.*,
        site.site_excess_per_pass,
        site.site_excess_per_pass_variance,
        site.site_excess_z,
        coalesce(heterogeneity.between_camera_variance, 0) as between_camera_variance,
        coalesce(
            heterogeneity.between_camera_variance
                / nullif(heterogeneity.between_camera_variance + per_camera.excess_per_pass_variance, 0),
            0
        ) as camera_weight
    from per_camera
    inner join site on per_camera.site_day = site.site_day
    left join heterogeneity on per_camera.site_day = heterogeneity.site_day
)

select
    site_day,
    camera_idx,
    cast(real_passes as bigint) as real_passes,
    cast(same_group_pairs as bigint) as same_group_pairs,
    cast(time_pairs as bigint) as time_pairs,
    chance_expectation,
    excess_pairs,
    excess_variance,
    excess_per_pass,
    sqrt(excess_per_pass_variance) as excess_per_pass_sd,
    site_excess_per_pass,
    sqrt(site_excess_per_pass_variance) as site_excess_per_pass_sd,
    site_excess_z,
    between_camera_variance,
    camera_weight,
    site_excess_z >= {{ var('double_count_min_z') }} as is_corrected,
    case
        when site_excess_z >= {{ var('double_count_min_z') }} then
            greatest(camera_weight * coalesce(excess_per_pass, 0) + (1 - camera_weight) * site_excess_per_pass, 0)
        else 0
    end as applied_excess_per_pass,
    case
        when site_excess_z >= {{ var('double_count_min_z') }} then
            sqrt(
                power(camera_weight, 2) * coalesce(excess_per_pass_variance, 0)
                + power(1 - camera_weight, 2) * site_excess_per_pass_variance
            )
        else 0
    end as applied_excess_per_pass_sd
from shrunk
