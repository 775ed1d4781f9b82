-- Aggregated demographic counts per camera, time window, age band and gender (never per person).
select
    site_id,
    sensor_id,
    segment_id,
    camera_id,
    cast(window_start as timestamp) as window_start,
    date_trunc('hour', cast(window_start as timestamp)) as hour_start,
    cast(window_minutes as integer) as window_minutes,
    age_band,
    gender,
    cast("count" as bigint) as person_count,
    cast(ingested_at as timestamp) as ingested_at
from {{ source('raw', 'demographics') }}
