{#- The run window comes from the vars window_start / window_end (ISO-8601, UTC, end exclusive).
    Values are parsed by DuckDB as TIMESTAMPTZ and turned into naive UTC timestamps (the session
    time zone is UTC, see profiles.yml). -#}

{% macro requested_window_start() -%}
    cast(cast('{{ var("window_start") }}' as timestamptz) as timestamp)
{%- endmacro %}

{% macro requested_window_end() -%}
    cast(cast('{{ var("window_end") }}' as timestamptz) as timestamp)
{%- endmacro %}

{#- Pre-hook of the hourly marts: remove the requested hours before inserting them again, so a
    re-run replaces results (delete + insert) and hours that lost their data are cleared. -#}
{% macro delete_requested_hours(column) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where {{ column }} >= {{ requested_window_start() }}
      and {{ column }} < {{ requested_window_end() }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of the daily marts: remove every site-local day the requested window touches; those
    days are recomputed whole from the hours stored so far. -#}
{% macro delete_requested_days(column) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where {{ column }} >= (select requested_first_day from {{ ref('int_run_window') }})
      and {{ column }} <= (select requested_last_day from {{ ref('int_run_window') }})
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- UTC hour start (naive TIMESTAMP) from an hour index (whole hours since 1970-01-01 UTC). -#}
{% macro hour_from_index(expr) -%}
    make_timestamp(cast({{ expr }} as bigint) * 3600000000)
{%- endmacro %}

{#- Site-local calendar day of a naive UTC timestamp. -#}
{% macro site_day(utc_ts, timezone_expr) -%}
    cast(timezone({{ timezone_expr }}, cast({{ utc_ts }} as timestamptz)) as date)
{%- endmacro %}
