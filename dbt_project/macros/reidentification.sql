{#- The re-identification rate p every estimate divides by, per site-local day of the run, beside the day's
    chance rate s: the site's p_override when configured (sd 0), else the day's pooled estimate of
    reidentification_calibration (all stores). Every day with a chance rate gets a row; p is empty while
    neither is known. Where each comes from rides along (chance_rate_method, p_source: the flow marts'
    is_provisional), p_source 'unavailable' also for a day without a calibration row and no override.
    Used as a CTE by the flows, the visit-length histogram and the double counts. -#}
{% macro p_used_by_day() -%}
    select
        rate.site_day,
        rate.chance_rate,
        rate.chance_rate_method,
        coalesce(run.p_override, calibration.p_used) as p_used,
        case when run.p_override is not null then 0.0 else calibration.p_used_sd end as p_sd,
        coalesce(
            calibration.p_source, case when run.p_override is not null then 'override' else 'unavailable' end
        ) as p_source
    from {{ ref('int_chance_rate_daily') }} as rate
    cross join {{ ref('int_run_window') }} as run
    left join {{ ref('reidentification_calibration') }} as calibration
        on rate.site_day = calibration.site_day and calibration.calibration_scope = 'all_stores'
{%- endmacro %}
