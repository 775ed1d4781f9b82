-- The site's stores, from the site configuration.
select
    store_id,
    name as store_name,
    zone
from {{ source('raw', 'stores') }}
