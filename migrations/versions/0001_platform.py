"""Domain schemas and the platform tables (health readings and state, backups);
alert emails go through the outbox (0002).

Revision ID: 0001
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DOMAINS = ("videos", "social", "music", "ads", "fitness", "platform")


def upgrade() -> None:
    for domain in DOMAINS:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {domain}")
    op.execute("""
        CREATE TABLE platform.health_readings (
            checked_at   timestamptz NOT NULL,  -- the run's data interval end
            check_name   text        NOT NULL,  -- database, redis, disk, memory, backlog
            target       text        NOT NULL,  -- which database, path, ...
            ok           boolean     NOT NULL,
            value        double precision,
            unit         text,
            detail       text        NOT NULL DEFAULT '',
            recorded_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (checked_at, check_name, target)
        )""")
    op.execute("CREATE INDEX health_readings_check_idx"
               " ON platform.health_readings (check_name, target, checked_at DESC)")
    op.execute("""
        CREATE TABLE platform.health_state (
            check_name   text        NOT NULL,
            target       text        NOT NULL,
            ok           boolean     NOT NULL,
            since        timestamptz NOT NULL,  -- checked_at of the reading that changed it
            detail       text        NOT NULL DEFAULT '',
            PRIMARY KEY (check_name, target)
        )""")
    op.execute("""
        CREATE TABLE platform.backups (
            database      text        NOT NULL,
            for_day       date        NOT NULL,  -- the data interval's day
            path          text        NOT NULL,
            size_bytes    bigint      NOT NULL,
            toc_entries   integer     NOT NULL,  -- objects listed by pg_restore --list
            started_at    timestamptz NOT NULL,
            finished_at   timestamptz NOT NULL,
            deleted_at    timestamptz,           -- set when retention removed the file
            PRIMARY KEY (database, for_day)
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE platform.backups, platform.health_state, platform.health_readings")
    # The schemas upgrade() made, except platform: env.py keeps Alembic's version table there.
    # No CASCADE: a schema still holding something means a later downgrade left it behind.
    op.execute(f"DROP SCHEMA IF EXISTS {', '.join(d for d in DOMAINS if d != 'platform')}")

