"""Airflow connection ids -> what include/ functions take (DSNs, settings)."""

from __future__ import annotations

from psycopg.conninfo import make_conninfo


def postgres_dsn(conn_id: str) -> str:
    """A libpq DSN for the Airflow connection `conn_id` (e.g. `platform_db`)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    params = {
        "host": conn.host or None,
        "port": conn.port or None,
        "user": conn.login or None,
        "password": conn.password or None,
        "dbname": conn.schema or None,
        "sslmode": extra.get("sslmode"),
    }
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


def app_db(domain: str) -> str:
    """The DSN of a domain's app database (connection `<domain>_db`)."""
    return postgres_dsn(f"{domain}_db")
