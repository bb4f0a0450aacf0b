"""Alembic environment: plain SQL migrations (op.execute) on the app database."""

import os

from alembic import context
from sqlalchemy import create_engine, pool


def _url() -> str:
    url = os.environ.get("JOBYARD_APP_DB_URL") or context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("JOBYARD_APP_DB_URL is not set (run through `make migrate`)")
    # psycopg 3 driver for SQLAlchemy.
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        # The version table lives in the platform schema, beside the platform's own tables.
        connection.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS platform")
        connection.commit()
        context.configure(connection=connection, version_table_schema="platform", transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations_online()
