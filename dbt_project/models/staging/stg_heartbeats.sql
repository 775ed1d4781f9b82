-- One row per camera and minute: sensor health and the published fictitious-person plan. The fields that
-- follow the persons in view are camera-hour totals on the hour's last row (0 / null on the others).
select
    site_id,
    sensor_id,
    segment_id,
    camera_id,
    cast(minute_start as timestamp) as minute_start,
    date_trunc('hour', cast(minute_start as timestamp)) as hour_start,
    frames_read,
    frames_processed,
    frames_dropped,
    frames_corrupt,
    persons_detected,
    occurrences_emitted,
    fictitious_emitted,
    cast(fictitious_plan_per_group as double) as fictitious_plan_per_group,
    stream_status,
    cast(latency_p50_ms as double) as latency_p50_ms,
    cast(latency_p99_ms as double) as latency_p99_ms,
    lsh_key_epoch,
    cast(ingested_at as timestamp) as ingested_at
from {{ source('raw', 'heartbeats') }}
