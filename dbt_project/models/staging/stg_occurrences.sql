-- One row per anonymous pass at a camera (real or fictitious: the row does not say which).
select
    site_id,
    sensor_id,
    segment_id,
    camera_id,
    cast(observed_at as timestamp) as observed_at,
    cast(epoch(cast(observed_at as timestamp)) as bigint) as observed_epoch_s,
    date_trunc('hour', cast(observed_at as timestamp)) as hour_start,
    cast(group_id as smallint) as group_id,
    direction,
    cast(ingested_at as timestamp) as ingested_at
from {{ source('raw', 'occurrences') }}
