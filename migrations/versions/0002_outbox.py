"""The notification outbox: every email and push, once per dedupe key.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE platform.outbox (
            id               bigserial   PRIMARY KEY,
            dedupe_key       text        NOT NULL UNIQUE,  -- recipient + event + period (caller-built)
            channel          text        NOT NULL CHECK (channel IN ('email', 'push')),
            domain           text        NOT NULL,         -- product: "from" name and templates
            recipient        text        NOT NULL,         -- email address or FCM device token
            subject          text,                         -- email subject / push title
            body_text        text,                         -- email text part / push body
            body_html        text,                         -- email HTML part
            payload          jsonb,                        -- push data
            status           text        NOT NULL DEFAULT 'pending'
                                         CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
            attempts         integer     NOT NULL DEFAULT 0,  -- delivery attempts started
            last_error       text,
            created_at       timestamptz NOT NULL DEFAULT now(),
            next_attempt_at  timestamptz NOT NULL DEFAULT now(),
            claimed_until    timestamptz,                  -- lease of a 'sending' row
            sent_at          timestamptz
        )""")
    # What the sweeper looks for: due pending rows, and 'sending' rows whose lease expired.
    op.execute("CREATE INDEX outbox_pending_idx ON platform.outbox (next_attempt_at) WHERE status = 'pending'")
    op.execute("CREATE INDEX outbox_sending_idx ON platform.outbox (claimed_until) WHERE status = 'sending'")


def downgrade() -> None:
    op.execute("DROP TABLE platform.outbox")
