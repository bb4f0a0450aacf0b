"""Airflow pools: name -> (slots, description). Loaded by `make run` and the tests."""

POOLS: dict[str, tuple[int, str]] = {
    "pg_dump": (1, "one database dump at a time"),
}
