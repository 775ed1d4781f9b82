-- The site's cameras with their role, store and zone, from the site configuration.
select
    camera_id,
    role,
    store_id,
    zone
from {{ source('raw', 'cameras') }}
