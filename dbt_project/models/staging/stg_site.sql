-- The site's analysis settings (exactly one row), from the site configuration.
select
    site_id,
    timezone,
    cast(max_lag_minutes as integer) as max_lag_minutes,
    cast(p_override as double) as p_override,
    cast(min_cell_size as integer) as min_cell_size,
    small_cells,
    cast(n_groups as integer) as n_groups
from {{ source('raw', 'site') }}
