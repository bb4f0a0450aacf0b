"""SQL of the ads domain, one module per service of include/ads/ and named after it:
`token_upkeep`, `fetch`. The demo seed (include/demo/ads_seed.py) loads stats through
`fetch`'s staged merge, the same path the job writes with."""
