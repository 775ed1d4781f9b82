-- The site's cameras with their role, store and zone, and the fixed mix of directions the sensor gives
-- their fictitious passes, from the site configuration.
select
    camera_id,
    role,
    store_id,
    zone,
    fictitious_share_in,
    fictitious_share_out,
    fictitious_share_unknown
from {{ source('raw', 'cameras') }}
