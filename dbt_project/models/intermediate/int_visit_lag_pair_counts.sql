-- M(d): same-group pairs per visit scope, origin hour and lag minute d (lag in (60(d-1), 60d] s)
-- for the visit camera pairs, origin passes on the run's whole site-local days, lags up to
-- visit_max_lag_minutes. Joined on (group, lag-long bucket) like the flows, never on group alone.
with run as (
    select epoch(days_start) as days_start_s, epoch(days_end) as days_end_s, visit_lag_s
    from {{ ref('int_run_window') }}
),

pairs as (
    select * from {{ ref('int_visit_camera_pairs') }}
),

origin_cameras as (
    select distinct scope_key, visit_scope, scope_id, origin_idx from pairs
),

destination_cameras as (
    select distinct scope_key, destination_idx from pairs
),

origin as (
    select
        cameras.scope_key, occ.group_id, occ.t, occ.t + run.visit_lag_s as t_limit, occ.hour_idx,
        occ.t // run.visit_lag_s as bucket
    from {{ ref('int_occurrences_read') }} as occ
    inner join origin_cameras as cameras on occ.camera_idx = cameras.origin_idx
    cross join run
    where occ.t >= run.days_start_s and occ.t < run.days_end_s
),

destination as (
    select cameras.scope_key, occ.group_id, occ.t, occ.t // run.visit_lag_s as bucket
    from {{ ref('int_occurrences_read') }} as occ
    inner join destination_cameras as cameras on occ.camera_idx = cameras.destination_idx
    cross join run
    where occ.t > run.days_start_s and occ.t <= run.days_end_s + run.visit_lag_s
),

destination_keys as (
    select scope_key, group_id, t, bucket as join_bucket from destination
    union all
    select scope_key, group_id, t, bucket - 1 as join_bucket from destination
),

pair_lags as (
    select
        origin.scope_key,
        origin.hour_idx,
        cast((destination_keys.t - origin.t + 59) // 60 as integer) as lag_minute,
        count(*) as same_group_pairs
    from origin
    inner join destination_keys
        on origin.scope_key = destination_keys.scope_key
        and origin.group_id = destination_keys.group_id
        and origin.bucket = destination_keys.join_bucket
    where destination_keys.t > origin.t
      and destination_keys.t <= origin.t_limit
    group by all
)

select
    scopes.visit_scope,
    scopes.scope_id,
    pair_lags.hour_idx,
    pair_lags.lag_minute,
    pair_lags.same_group_pairs
from pair_lags
inner join (select distinct scope_key, visit_scope, scope_id from pairs) as scopes
    on pair_lags.scope_key = scopes.scope_key
