"""Airflow connections -> DSNs through the providers' hooks, and the outbox's one-database rule
(connections from AIRFLOW_CONN_* environment variables, as in dev and CI)."""

from __future__ import annotations

import json

import psycopg
import pytest
from airflow.sdk.exceptions import AirflowFailException
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import make_url

from include.common.outbox import OutboxMissingError, enqueue
from include.orchestration import connections
from tools import devenv


def set_pg(monkeypatch, conn_id: str, url: str, **changes) -> dict:
    conn = {**devenv._pg_conn(url), **changes}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn


SSL_EXTRAS = {"sslmode": "require", "sslrootcert": "/x.pem", "sslcert": "/c.pem", "sslkey": "/k.pem",
              "application_name": "jobyard-test", "options": "-c statement_timeout=5000", "keepalives_idle": 30}


def test_libpq_extras_reach_the_dsn(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TEST_SSL_DB", json.dumps({
        "conn_type": "postgres", "host": "db.internal", "port": 6432, "login": "jobs", "password": "p@ss word",
        "schema": "social", "extra": SSL_EXTRAS}))
    parts = conninfo_to_dict(connections.postgres_dsn("test_ssl_db"))
    assert parts == {"host": "db.internal", "port": "6432", "user": "jobs", "password": "p@ss word",
                     "dbname": "social", **{k: str(v) for k, v in SSL_EXTRAS.items()}}
    url = make_url(connections.sqlalchemy_url("test_ssl_db"))
    assert (url.drivername, url.host, url.port, url.username, url.password, url.database) == (
        "postgresql+psycopg2", "db.internal", 6432, "jobs", "p@ss word", "social")
    assert dict(url.query) == {k: str(v) for k, v in SSL_EXTRAS.items()}


def test_the_extras_are_what_libpq_connects_with(monkeypatch, app_db):
    set_pg(monkeypatch, "test_plain_db", app_db, extra={"sslmode": "disable", "application_name": "jobyard-ssl-test"})
    with psycopg.connect(connections.postgres_dsn("test_plain_db")) as conn:
        assert conn.execute("SHOW application_name").fetchone()[0] == "jobyard-ssl-test"
        assert conn.pgconn.ssl_in_use is False
    # A root certificate libpq must read: the connection fails on it (or on the server's lack
    # of SSL), which only happens when the extra reached libpq.
    set_pg(monkeypatch, "test_verify_db", app_db, extra={"sslmode": "verify-full", "sslrootcert": "/nonexistent.pem"})
    with pytest.raises(psycopg.OperationalError, match="nonexistent.pem|SSL"):
        psycopg.connect(connections.postgres_dsn("test_verify_db"), connect_timeout=5).close()


def test_an_option_libpq_does_not_know_fails_naming_it(monkeypatch, app_db):
    set_pg(monkeypatch, "test_typo_db", app_db, extra={"ssl_mode": "require"})
    with pytest.raises(psycopg.ProgrammingError, match="ssl_mode"):
        connections.postgres_dsn("test_typo_db")


def test_a_unix_socket_connection(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TEST_SOCKET_DB", json.dumps({
        "conn_type": "postgres", "host": "/run/postgresql", "port": 5433, "login": "postgres", "schema": "jobyard"}))
    assert conninfo_to_dict(connections.postgres_dsn("test_socket_db")) == {
        "host": "/run/postgresql", "port": "5433", "user": "postgres", "dbname": "jobyard"}
    url = make_url(connections.sqlalchemy_url("test_socket_db"))
    assert (url.host, url.database, dict(url.query)) == (None, "jobyard", {"host": "/run/postgresql", "port": "5433"})


def test_database_key_normalises_what_libpq_fills_in():
    assert connections.database_key("host=localhost dbname=app user=u") == \
        connections.database_key("postgresql://u@127.0.0.1:5432/app")
    assert connections.database_key("host=db.internal user=jobs") == ("db.internal", "5432", "jobs")
    assert connections.database_key("host=db port=5432 dbname=a") != connections.database_key("host=db dbname=b")


def test_outbox_db_is_the_domain_db_when_it_is_the_platform_db(monkeypatch, app_db):
    set_pg(monkeypatch, "platform_db", app_db)
    set_pg(monkeypatch, "social_db", app_db.replace("127.0.0.1", "localhost"), extra={"application_name": "social"})
    assert connections.outbox_db("social") == connections.app_db("social")


def test_outbox_db_refuses_a_domain_db_apart_from_the_platform_db(monkeypatch, app_db, session_env):
    set_pg(monkeypatch, "platform_db", app_db)
    set_pg(monkeypatch, "videos_db", session_env["airflow_db"])
    with pytest.raises(AirflowFailException, match=r"must commit with the videos data.*Point 'videos_db' and "
                                                   r"'platform_db' at the same database"):
        connections.outbox_db("videos")


def test_enqueue_refuses_a_database_without_the_outbox(session_env):
    with psycopg.connect(session_env["airflow_db"]) as conn, \
            pytest.raises(OutboxMissingError, match="platform.outbox does not exist in database .* same database"):
        enqueue(conn, [])


def test_redis_address_as_redishook_reads_it(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TEST_ADDR_REDIS", json.dumps({"conn_type": "redis", "host": "cache.internal",
                                                                   "port": 6380, "extra": {"db": 2}}))
    assert connections.redis_address("test_addr_redis") == ("cache.internal", 6380)
    monkeypatch.setenv("AIRFLOW_CONN_TEST_ADDR_REDIS", json.dumps({"conn_type": "redis"}))
    assert connections.redis_address("test_addr_redis") == ("localhost", 6379)
