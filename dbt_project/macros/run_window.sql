{#- The run window (ISO-8601, UTC, end exclusive), parsed by DuckDB as TIMESTAMPTZ and turned into naive
    UTC timestamps (the session time zone is UTC, see profiles.yml).

    It comes from the vars window_start / window_end when given (`dbt build --vars ...` by hand), else from
    the environment variables INDIVID_WINDOW_START / INDIVID_WINDOW_END, which is how Dagster passes each
    run's partition window: a --vars value that changes makes dbt re-parse the whole project on every run,
    while a changed environment variable re-parses only this file. With neither, the window covers all data. -#}

{% macro requested_window_start() -%}
    {%- set value = var("window_start", env_var("INDIVID_WINDOW_START", "1970-01-01T00:00:00+00:00")) -%}
    cast(cast('{{ value }}' as timestamptz) as timestamp)
{%- endmacro %}

{% macro requested_window_end() -%}
    {%- set value = var("window_end", env_var("INDIVID_WINDOW_END", "2100-01-01T00:00:00+00:00")) -%}
    cast(cast('{{ value }}' as timestamptz) as timestamp)
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
