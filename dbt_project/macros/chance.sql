{#- Same-group pairs expected by chance between two sets of passes (two camera-hours, or two hours):
    R1 R2 s for real x real, (R1 f2 + R2 f1) / G for real x fictitious and f1 f2 / G for fictitious x
    fictitious (fictitious persons are uniform over the G groups), with R the real and f the fictitious
    passes of each set and s the chance rate of two unrelated real passes. Divided by n1 n2 it is the
    chance that one time pair of the two sets shares a group. The flows (int_flow_hourly_components), the
    visit lags (int_visit_lag_chance) and the fit of s itself (int_chance_rate_daily, with s = 0 for the
    fictitious part alone) all use it. -#}
{% macro expected_same_group_pairs(real_1, fictitious_1, real_2, fictitious_2, chance_rate, n_groups) -%}
    (
        {{ real_1 }} * {{ real_2 }} * {{ chance_rate }}
        + ({{ real_1 }} * {{ fictitious_2 }} + {{ real_2 }} * {{ fictitious_1 }}) / {{ n_groups }}
        + {{ fictitious_1 }} * {{ fictitious_2 }} / {{ n_groups }}
    )
{%- endmacro %}

{#- Same-group pairs expected by chance among the passes of ONE camera-hour (both passes from the same cell):
    R (R - 1) s + 2 R f / G + f^2 / G - G F - (f - G F) / G, F = floor(lambda) the plan's fixed fictitious
    persons per group (individ.fictitious: floor(lambda) per group plus Poisson), which makes same-group
    fictitious pairs rarer than f^2 / G. Counted over ordered pairs of distinct passes: divided by n (n - 1)
    it is the chance that one time pair of the cell shares a group. Used by the flows' A -> A same-hour slot
    (int_flow_hourly_components) and the double counts (int_double_count_pairs). -#}
{% macro expected_same_group_pairs_within_cell(real, fictitious, fictitious_floor, chance_rate, n_groups) -%}
    greatest(
        {{ real }} * ({{ real }} - 1) * {{ chance_rate }}
        + 2 * {{ real }} * {{ fictitious }} / {{ n_groups }}
        + {{ fictitious }} * {{ fictitious }} / {{ n_groups }}
        - {{ n_groups }} * {{ fictitious_floor }}
        - ({{ fictitious }} - {{ n_groups }} * {{ fictitious_floor }}) / {{ n_groups }},
        0
    )
{%- endmacro %}

{#- The chance that one time pair of a camera-hour's own passes (n of them) shares a group: the expectation
    above over the n (n - 1) ordered pairs of distinct passes (0 for a cell of one pass). -#}
{% macro chance_per_time_pair_within_cell(events, real, fictitious, fictitious_floor, chance_rate, n_groups) -%}
    case
        when {{ events }} > 1 then
            {{ expected_same_group_pairs_within_cell(real, fictitious, fictitious_floor, chance_rate, n_groups) }}
            / (cast({{ events }} as double) * ({{ events }} - 1))
        else 0
    end
{%- endmacro %}
