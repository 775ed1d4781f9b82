-- The camera pairs whose lag is a visit: a store's door-in to the same store's door-out (a store
-- visit) and any site entrance to any site exit (a mall visit).
with cameras as (
    select * from {{ ref('int_camera_index') }}
),

pairs as (
select
    'store' as visit_scope,
    door_in.store_id as scope_id,
    door_in.camera_idx as origin_idx,
    door_out.camera_idx as destination_idx
from cameras as door_in
inner join cameras as door_out on door_in.store_id = door_out.store_id
where door_in.role = 'store_door_in' and door_out.role = 'store_door_out'

union all

select
    'site' as visit_scope,
    site.site_id as scope_id,
    entrance.camera_idx as origin_idx,
    site_exit.camera_idx as destination_idx
from cameras as entrance
cross join cameras as site_exit
cross join {{ ref('stg_site') }} as site
where entrance.role = 'entrance' and site_exit.role = 'exit'
)

select
    -- A small integer per scope: the pair joins match on it (each camera is in one scope only).
    cast(dense_rank() over (order by visit_scope, scope_id) as integer) as scope_key,
    *
from pairs
