"""PostgreSQL access for the app databases (psycopg 3): connections.

Plain Python: callers pass a DSN (libpq URL or key=value string); the orchestration layer
turns an Airflow connection id into one (include/orchestration/connections.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


@contextmanager
def connect(dsn: str, *, autocommit: bool = False, application_name: str = "jobyard") -> Iterator[psycopg.Connection]:
    """A connection that commits on success and rolls back on error."""
    conn = psycopg.connect(dsn, autocommit=autocommit, application_name=application_name, connect_timeout=10)
    try:
        yield conn
        if not autocommit:
            conn.commit()
    except BaseException:
        if not autocommit:
            conn.rollback()
        raise
    finally:
        conn.close()

