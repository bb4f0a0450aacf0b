"""Airflow connection ids -> what include/ functions take (DSNs, settings).

The one place that turns postgres and redis connections into plain values: services get a
libpq DSN string (or host and port) and stay free of Airflow. The providers' hooks read the
connections, so every field they honour (libpq extras such as `sslmode`, `sslrootcert`,
`options`, `application_name`, `keepalives*`; IAM tokens for RDS/Redshift/Azure) works here
as it does for any PostgresHook user.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from airflow.sdk.exceptions import AirflowFailException
from psycopg.conninfo import conninfo_to_dict, make_conninfo


class ConnectionConfigError(AirflowFailException, ValueError):
    """A connection that is missing or misconfigured: retrying cannot help, so the task fails
    at once (AirflowFailException). Also a ValueError, for callers outside Airflow."""


# Keys the hook may add to its psycopg connect() arguments that are not libpq keywords.
_NOT_LIBPQ = ("row_factory", "cursor_factory")
_URL_FIELDS = ("host", "port", "user", "password", "dbname")


@cache
def _params_hook_class() -> type:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    class ParamsHook(PostgresHook):
        """PostgresHook.get_conn() builds libpq's keyword arguments (host, port, user,
        password, dbname, IAM tokens, every extra it does not reserve for itself) and hands
        them to _create_connection; this subclass keeps them instead of connecting, so the
        DSN comes from the hook's own logic rather than a copy of it."""

        def _create_connection(self, conn_args: dict[str, Any]) -> Any:
            self.conn_args = conn_args
            return None

    return ParamsHook


def postgres_params(conn_id: str) -> dict[str, str]:
    """The libpq keywords of the Airflow connection `conn_id`, as PostgresHook would connect."""
    hook = _params_hook_class()(postgres_conn_id=conn_id)
    hook.get_conn()
    return {k: str(v) for k, v in hook.conn_args.items() if v not in (None, "") and k not in _NOT_LIBPQ}


def postgres_dsn(conn_id: str) -> str:
    """A libpq DSN for the Airflow connection `conn_id` (e.g. `platform_db`). make_conninfo
    validates the keywords, so an extra libpq does not know fails here, naming it."""
    return make_conninfo(**postgres_params(conn_id))


def sqlalchemy_url(conn_id: str) -> str:
    """A SQLAlchemy URL (psycopg2 driver) for a postgres connection: what the `airflow` CLI
    needs as AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, since Airflow 3 hides the metadata database
    from task processes. The hook's `sqlalchemy_url` carries only host, port, user, password
    and dbname; the other libpq keywords (ssl*, options, ...) go in the query string, which
    the psycopg2 dialect passes to libpq."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from sqlalchemy.engine import URL

    url = PostgresHook(postgres_conn_id=conn_id, sqlalchemy_scheme="postgresql+psycopg2").sqlalchemy_url
    query = {**url.query, **{k: v for k, v in postgres_params(conn_id).items() if k not in _URL_FIELDS}}
    host, port = url.host, url.port
    if host and host.startswith("/"):  # a Unix socket directory: a URL's host part cannot hold a path
        query.update(host=host, port=str(port or 5432))
        host, port = None, None
    return URL.create(url.drivername, username=url.username, password=url.password, host=host, port=port,
                      database=url.database, query=query).render_as_string(hide_password=False)


def app_db(domain: str) -> str:
    """The DSN of a domain's app database (connection `<domain>_db`)."""
    return postgres_dsn(f"{domain}_db")


_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def database_key(dsn: str) -> tuple[str, str, str]:
    """(host, port, dbname) of a DSN, normalised the way libpq fills them in, so two DSNs of
    one database compare equal: loopback names are one host, the port defaults to 5432, the
    database name to the user name."""
    parts = conninfo_to_dict(dsn)
    host = (parts.get("host") or "").strip().lower().rstrip("/")
    host = "localhost" if host in _LOOPBACK else host
    return host, str(parts.get("port") or 5432), str(parts.get("dbname") or parts.get("user") or "")


def outbox_db(domain: str) -> str:
    """The DSN of `<domain>_db` for a job that enqueues notifications, after checking that it
    is the database of `platform_db`: the outbox (`platform.outbox`) is written in the same
    transaction as the domain's data (a transactional outbox), which needs one database."""
    dsn = app_db(domain)
    if domain != "platform":
        domain_key, platform_key = database_key(dsn), database_key(app_db("platform"))
        if domain_key != platform_key:
            raise ConnectionConfigError(
                f"connection '{domain}_db' is database {domain_key[2]!r} on {domain_key[0]}:{domain_key[1]} "
                f"but 'platform_db' is {platform_key[2]!r} on {platform_key[0]}:{platform_key[1]}: the "
                f"notification outbox must commit with the {domain} data that caused it, in one database. "
                f"Point '{domain}_db' and 'platform_db' at the same database.")
    return dsn


DOMAINS = ("videos", "social", "music", "ads", "fitness", "platform")


def app_databases() -> dict[str, str]:
    """The distinct app databases behind the `<domain>_db` connections: name -> DSN.

    All domains may share one database; it is then checked and backed up once. A domain
    without a connection is left out (not every install runs every product).
    """
    from airflow.sdk.exceptions import AirflowNotFoundException

    found: dict[tuple, tuple[str, str]] = {}
    for domain in DOMAINS:
        try:
            dsn = app_db(domain)
        except AirflowNotFoundException:
            continue
        key = database_key(dsn)
        found.setdefault(key, (key[2], dsn))
    return dict(found.values())


def redis_address(conn_id: str = "redis_default") -> tuple[str, int]:
    """Host and port of a redis connection, as RedisHook configures its client."""
    from airflow.providers.redis.hooks.redis import RedisHook

    kwargs = RedisHook(redis_conn_id=conn_id).get_conn().connection_pool.connection_kwargs
    return kwargs.get("host") or "localhost", int(kwargs.get("port") or 6379)
