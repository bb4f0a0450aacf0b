"""SQL of the videos domain, one module per service of include/videos/ and named after it:
`analytics_sync`, `adsense_sync`, `keywords`, `predictions`, `reports`. A service's SQL lives
in its namesake only; the demo seed (include/demo/videos_seed.py) and the stats benchmark load
through `analytics_sync`'s staged merge, the same path the sync writes with."""
