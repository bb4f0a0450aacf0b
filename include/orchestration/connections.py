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


def sqlalchemy_url(conn_id: str) -> str:
    """A SQLAlchemy URL (psycopg2 driver) for a postgres connection: what the `airflow` CLI
    needs as AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, since Airflow 3 hides the metadata database
    from task processes."""
    from urllib.parse import quote

    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    auth = quote(conn.login or "", safe="")
    if conn.password:
        auth += ":" + quote(conn.password, safe="")
    host = conn.host or ""
    if host.startswith("/"):  # a Unix socket directory
        return f"postgresql+psycopg2://{auth}@/{conn.schema}?host={quote(host)}"
    return f"postgresql+psycopg2://{auth}@{host}:{conn.port or 5432}/{conn.schema}"


def app_db(domain: str) -> str:
    """The DSN of a domain's app database (connection `<domain>_db`)."""
    return postgres_dsn(f"{domain}_db")


DOMAINS = ("videos", "social", "music", "ads", "fitness", "platform")


def app_databases() -> dict[str, str]:
    """The distinct app databases behind the `<domain>_db` connections: name -> DSN.

    All domains may share one database; it is then checked and backed up once. A domain
    without a connection is left out (not every install runs every product).
    """
    from airflow.sdk.exceptions import AirflowNotFoundException
    from psycopg.conninfo import conninfo_to_dict

    found: dict[tuple, tuple[str, str]] = {}
    for domain in DOMAINS:
        try:
            dsn = app_db(domain)
        except AirflowNotFoundException:
            continue
        parts = conninfo_to_dict(dsn)
        key = (parts.get("host"), str(parts.get("port", 5432)), parts.get("dbname"))
        found.setdefault(key, (str(parts.get("dbname")), dsn))
    return dict(found.values())


def redis_address(conn_id: str = "redis_default") -> tuple[str, int]:
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    return conn.host or "127.0.0.1", int(conn.port or 6379)
