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
