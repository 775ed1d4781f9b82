{#- Generic tests of this project (no package downloads: the platform runs offline). -#}

{% test value_in_range(model, column_name, min_value=none, max_value=none) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and (
    false
    {%- if min_value is not none %} or {{ column_name }} < {{ min_value }}{% endif %}
    {%- if max_value is not none %} or {{ column_name }} > {{ max_value }}{% endif %}
  )
{% endtest %}

{% test single_row(model) %}
select count(*) as row_count from {{ model }} having count(*) <> 1
{% endtest %}

{#- The interval brackets the estimate (low <= estimate <= high where all are present). -#}
{% test interval_brackets(model, column_name, low, high) %}
select *
from {{ model }}
where {{ column_name }} is not null
  and ({{ low }} > greatest({{ column_name }}, 0) + 1e-9 or {{ high }} < {{ column_name }} - 1e-9)
{% endtest %}

{#- A combination of columns identifies one row. -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as copies
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
