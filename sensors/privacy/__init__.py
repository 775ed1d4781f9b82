"""Privacy transforms: embedding noise, keyed LSH grouping, keys and deletion. numpy only (the audit reuses them)."""
