-- Passes per camera and minute in the read frame: the input of every chance expectation.
select
    camera_idx,
    cast(t // 60 as integer) as minute_idx,
    cast(t // 3600 as integer) as hour_idx,
    count(*) as passes
from {{ ref('int_occurrences_read') }}
group by all
