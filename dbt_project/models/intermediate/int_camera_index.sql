-- Cameras numbered 0..n-1 so the heavy joins work on small integers instead of text ids.
select
    cast(row_number() over (order by camera_id) - 1 as smallint) as camera_idx,
    camera_id,
    role,
    store_id,
    zone
from {{ ref('stg_cameras') }}
