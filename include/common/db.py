"""PostgreSQL access for the app databases (psycopg 3): connections and batched work.

Plain Python: callers pass a DSN (libpq URL or key=value string); the orchestration layer
turns an Airflow connection id into one (include/orchestration/connections.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


def run_in_batches(conn: psycopg.Connection, statement: Callable[[psycopg.Connection], int],
                   *, should_continue: Callable[[], bool] = lambda: True) -> tuple[int, int]:
    """Run `statement` (which affects at most one batch and returns its row count) until it
    affects nothing, committing after each batch so no lock is held for long.

    Returns (rows, batches). `should_continue` is the time-budget check: when it says no,
    the loop stops after a committed batch.
    """
    rows = batches = 0
    while should_continue():
        affected = statement(conn)
        conn.commit()
        if affected <= 0:
            break
        rows += affected
        batches += 1
    return rows, batches
