-- The occurrences this run reads (its read frame), reduced to integers for the pair joins.
select
    cameras.camera_idx,
    occ.group_id,
    occ.observed_epoch_s as t,
    cast(occ.observed_epoch_s // 3600 as integer) as hour_idx
from {{ ref('stg_occurrences') }} as occ
inner join {{ ref('int_camera_index') }} as cameras on occ.camera_id = cameras.camera_id
cross join {{ ref('int_run_window') }} as run
where occ.observed_at >= run.read_start
  and occ.observed_at < run.read_end
