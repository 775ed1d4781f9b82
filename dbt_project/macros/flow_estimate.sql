{#- The flow estimator shared by the flow marts (dbt_project/README.md): F = (M - B) / (p - s), and its
    standard error from the pair-count variance, the chance-rate uncertainty and the uncertainty of p.
    Columns expected: p_used, p_sd, chance_rate, chance_rate_sd, and by default pair_count_variance,
    chance_rate_sensitivity and estimated_flow (the lag-profile mart passes its own). -#}

{% macro flow_estimate(excess_pairs) -%}
    case when p_used > chance_rate then ({{ excess_pairs }}) / (p_used - chance_rate) end
{%- endmacro %}

{% macro flow_standard_error(
    pair_count_variance='pair_count_variance',
    chance_rate_sensitivity='chance_rate_sensitivity',
    estimated_flow='estimated_flow'
) -%}
    sqrt(
        ({{ pair_count_variance }} + power({{ chance_rate_sensitivity }} * chance_rate_sd, 2))
            / power(p_used - chance_rate, 2)
        + power({{ estimated_flow }} * p_sd / (p_used - chance_rate), 2)
    )
{%- endmacro %}

{#- Var(M) of a pair count: over-dispersion x (B - the fictitious floor's part, which only the time
    window makes vary) for the chance pairs, plus max(M - B, 0)(1 - p) for the true ones.
    Columns expected: chance_overdispersion, p_used. -#}
{% macro pair_count_variance(same_group_pairs, chance_expectation, chance_floor_variance_reduction) -%}
    chance_overdispersion * greatest({{ chance_expectation }} - {{ chance_floor_variance_reduction }}, 0)
        + greatest({{ same_group_pairs }} - {{ chance_expectation }}, 0) * (1 - least(p_used, 1))
{%- endmacro %}

{#- The 95 % interval columns of a flow mart (never below zero persons); quantile: the normal one, or
    Student's t where the standard error comes from few replicates. -#}
{% macro flow_interval_columns(quantile=var('interval_z')) -%}
    greatest(estimated_flow - {{ quantile }} * flow_se, 0) as flow_ci_low,
    estimated_flow + {{ quantile }} * flow_se as flow_ci_high
{%- endmacro %}

{#- Whether a flow rests on a stand-in for s or p, to be materialized again once its day has the data:
    s not the day's own fit (int_chance_rate_daily: previous_day or uniform_groups) or p neither the
    day's own estimate nor an override (reidentification_calibration: previous_day or unavailable). -#}
{% macro is_provisional(chance_rate_method='chance_rate_method', p_source='p_source') -%}
    coalesce({{ chance_rate_method }} <> 'far_hour_pairs' or {{ p_source }} not in ('estimate', 'override'), true)
{%- endmacro %}

{#- Aggregates for a figure summed over hours or camera pairs that may have been stored with different
    sources for s and p (hours materialized while their day was incomplete): the least settled of them,
    so that is_provisional of the sum is true when any part is. -#}
{% macro least_settled_chance_rate_method(column='chance_rate_method') -%}
    arg_max(
        {{ column }},
        case {{ column }} when 'far_hour_pairs' then 0 when 'previous_day' then 1 else 2 end
    )
{%- endmacro %}

{% macro least_settled_p_source(column='p_source') -%}
    arg_max(
        {{ column }},
        case when {{ column }} in ('estimate', 'override') then 0 when {{ column }} = 'previous_day' then 1 else 2 end
    )
{%- endmacro %}
