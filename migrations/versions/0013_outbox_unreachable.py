"""Outbox delivery after an outage: remember that a message failed because its server could
not be reached, so that it goes out on the first sweep after the server answers again instead
of after its full backoff (include/common/delivery.py, "Recovery after an outage").

- `platform.outbox.unreachable` (boolean, default false): set by the deliverer when the last
  attempt failed without reaching the server (connection refused or dropped before the
  message went out, no sender configured, the OAuth token endpoint unreachable); cleared by
  any other outcome. Refusals (5xx, FCM UNREGISTERED) and throttling (429/503 with
  Retry-After) leave it false: those keep their backoff. Adding a column with a constant
  default rewrites nothing.
- `outbox_unreachable_idx` (channel, id) WHERE status = 'pending' AND unreachable: the early
  claim of such rows once their channel answers, and the "is anything waiting for this
  channel?" check before a probe, without reading the rest of the backlog.
- `outbox_due_idx` (next_attempt_at, id) WHERE status = 'pending' replaces
  `outbox_pending_idx` (next_attempt_at): the claim's ORDER BY next_attempt_at, id LIMIT n
  is then read in index order, with no sort of the whole due backlog per claim.

Revision ID: 0013
Revises: 0012 (the highest revision present when this one was written)
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE platform.outbox ADD COLUMN unreachable boolean NOT NULL DEFAULT false")
    op.execute("CREATE INDEX outbox_unreachable_idx ON platform.outbox (channel, id)"
               " WHERE status = 'pending' AND unreachable")
    op.execute("CREATE INDEX outbox_due_idx ON platform.outbox (next_attempt_at, id) WHERE status = 'pending'")
    op.execute("DROP INDEX platform.outbox_pending_idx")


def downgrade() -> None:
    op.execute("CREATE INDEX outbox_pending_idx ON platform.outbox (next_attempt_at) WHERE status = 'pending'")
    op.execute("DROP INDEX platform.outbox_due_idx, platform.outbox_unreachable_idx")
    op.execute("ALTER TABLE platform.outbox DROP COLUMN unreachable")
