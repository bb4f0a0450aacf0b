"""Airflow pools: name -> (slots, description). Loaded by `make run` and the tests."""

POOLS: dict[str, tuple[int, str]] = {
    "pg_dump": (1, "one database dump at a time"),
    # The Soundcharts tasks wait here, queued, instead of sleeping on the 2-per-minute limiter in
    # worker slots: two slots keep both requests of a window in use.
    "soundcharts": (2, "tasks calling Soundcharts (2 requests/minute, shared limit in Redis)"),
    # ACRCloud allows 1 request/minute (shared limit in Redis): one slot, so a song waiting for
    # the limit waits queued here instead of sleeping in a worker slot.
    "acrcloud": (1, "tasks calling ACRCloud identification (1 request/minute, shared limit in Redis)"),
}
