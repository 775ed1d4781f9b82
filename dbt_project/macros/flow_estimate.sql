{#- The flow estimator shared by the hourly, daily and zone flow marts (dbt_project/README.md):
    F = (M - B) / (p - s), and its standard error from the pair-count variance, the chance-rate
    uncertainty and the uncertainty of p. Columns expected: p_used, p_sd, chance_rate, chance_rate_sd,
    chance_rate_sensitivity, pair_count_variance, estimated_flow. -#}

{% macro flow_estimate(excess_pairs) -%}
    case when p_used > chance_rate then ({{ excess_pairs }}) / (p_used - chance_rate) end
{%- endmacro %}

{% macro flow_standard_error() -%}
    sqrt(
        (pair_count_variance + power(chance_rate_sensitivity * chance_rate_sd, 2)) / power(p_used - chance_rate, 2)
        + power(estimated_flow * p_sd / (p_used - chance_rate), 2)
    )
{%- endmacro %}

{#- The 95 % interval columns of a flow mart (never below zero persons). -#}
{% macro flow_interval_columns() -%}
    greatest(estimated_flow - {{ var('interval_z') }} * flow_se, 0) as flow_ci_low,
    estimated_flow + {{ var('interval_z') }} * flow_se as flow_ci_high
{%- endmacro %}
