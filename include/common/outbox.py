"""The notification outbox (`platform.outbox`): every email and push is sent exactly once.

Plain Python (psycopg 3), no Airflow. Two halves:

**Enqueue** (`enqueue`): a job renders its messages and inserts them in *its own*
transaction, beside the data they are about, so a message exists if and only if that data
was committed. Each message has a dedupe key built by the caller from recipient + event +
period (e.g. ``digest:user42:2026-W03``); the key is UNIQUE and inserts use
``ON CONFLICT DO NOTHING``, so a rerun, retry or backfill of the job enqueues nothing new.

**One database, on purpose.** That transaction is a transactional outbox: it only holds if
`platform.outbox` lives in the same database as the domain's data, so every `<domain>_db`
whose jobs enqueue points at the database of `platform_db` (checked by
include/orchestration/connections.py `outbox_db`), and `enqueue` refuses a connection whose
database has no `platform.outbox` (`OutboxMissingError`) instead of failing on the INSERT.

**Delivery** is include/common/delivery.py (`deliver_pending`): it claims due rows, sends them
and records each outcome; its docstring states the exactly-once guarantee and its one window.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

from include.common.email import InlineImage, inline_images_payload, render_email
from include.common.push import render_push

CHANNELS = ("email", "push")
INSERT_CHUNK = 1000  # messages per INSERT statement


@dataclass(frozen=True)
class OutboxMessage:
    dedupe_key: str
    channel: str  # "email" | "push"
    domain: str  # product, for the "from" name and templates
    recipient: str  # email address or FCM device token
    template: str  # e.g. "platform/health_alert" -> include/common/templates/platform/health_alert.*.j2
    context: dict  # JSON-serialisable template variables
    # Email only: images the HTML shows by <img src="cid:...">, e.g. charts (include/common/charts.py
    # + email.inline_png); stored base64 in the row's payload, sent as a multipart/related.
    images: tuple[InlineImage, ...] = ()


# -- enqueue -----------------------------------------------------------------------------------

class OutboxMissingError(LookupError):
    """The database of the caller's connection has no `platform.outbox`: a configuration
    error (the domain's database is not the platform's), so retrying cannot help."""


def _render(msg: OutboxMessage) -> tuple:
    """The row values of a message: (dedupe_key, channel, domain, recipient, subject,
    body_text, body_html, payload-json)."""
    if not msg.dedupe_key or not msg.dedupe_key.strip():
        raise ValueError(f"outbox message without a dedupe key: {msg!r}")
    if msg.channel not in CHANNELS:
        raise ValueError(f"outbox message {msg.dedupe_key!r}: channel {msg.channel!r} not in {CHANNELS}")
    if not msg.recipient or any(c.isspace() for c in msg.recipient):
        raise ValueError(f"outbox message {msg.dedupe_key!r}: bad recipient {msg.recipient!r}")
    if not isinstance(msg.context, dict):
        raise ValueError(f"outbox message {msg.dedupe_key!r}: context must be a dict")
    if msg.channel == "email":
        if "@" not in msg.recipient:
            raise ValueError(f"outbox message {msg.dedupe_key!r}: {msg.recipient!r} is not an email address")
        email = render_email(msg.domain, msg.template, msg.context)
        payload = (json.dumps(inline_images_payload(msg.images, email.html, f"outbox message {msg.dedupe_key!r}"))
                   if msg.images else None)
        return (msg.dedupe_key, msg.channel, msg.domain, msg.recipient, email.subject, email.text, email.html,
                payload)
    if msg.images:
        raise ValueError(f"outbox message {msg.dedupe_key!r}: a push cannot carry inline images")
    push = render_push(msg.domain, msg.template, msg.context)
    payload = json.dumps({"data": push.data}) if push.data else None
    return (msg.dedupe_key, msg.channel, msg.domain, msg.recipient, push.title, push.body, None, payload)


_INSERT = """
    INSERT INTO platform.outbox (dedupe_key, channel, domain, recipient, subject, body_text, body_html, payload)
    SELECT k, c, d, r, s, t, h, p::jsonb
      FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
           AS m(k, c, d, r, s, t, h, p)
    ON CONFLICT (dedupe_key) DO NOTHING
"""


def enqueue(conn: psycopg.Connection, messages: Iterable[OutboxMessage]) -> int:
    """Render and insert in the CALLER's transaction (no commit); duplicates by dedupe_key
    are ignored (ON CONFLICT DO NOTHING); returns how many are new. Set-based: one INSERT
    ... SELECT FROM unnest(...) per 1,000 messages, not a query per row.

    A bad message (unknown channel, domain or template, missing template variable) raises
    ValueError / a Jinja2 error before anything is inserted; a database without
    `platform.outbox` raises OutboxMissingError."""
    if conn.execute("SELECT to_regclass('platform.outbox')").fetchone()[0] is None:
        raise OutboxMissingError(
            f"platform.outbox does not exist in database {conn.info.dbname!r} on {conn.info.host}:{conn.info.port}: "
            "the outbox must be in the same database as the domain's data, so that a message commits with the "
            "data that caused it. Point <domain>_db and platform_db at the same database (migrated to head).")
    rows: list[tuple] = []
    seen: set[str] = set()
    for msg in messages:
        if msg.dedupe_key in seen:
            continue
        seen.add(msg.dedupe_key)
        rows.append(_render(msg))
    new = 0
    with conn.cursor() as cur:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start:start + INSERT_CHUNK]
            cur.execute(_INSERT, [list(column) for column in zip(*chunk, strict=True)])
            new += cur.rowcount
    return new


def message(conn: psycopg.Connection, dedupe_key: str) -> dict | None:
    """{"status", "created_at", "sent_at"} of the message with `dedupe_key`, or None: lets a
    job say when a message it meant to queue was queued before."""
    row = conn.execute("SELECT status, created_at, sent_at FROM platform.outbox WHERE dedupe_key = %s",
                       (dedupe_key,)).fetchone()
    return None if row is None else {"status": row[0], "created_at": row[1], "sent_at": row[2]}


def existing_keys(conn: psycopg.Connection, dedupe_keys: list[str]) -> set[str]:
    """Those of `dedupe_keys` already in the outbox, so a rerun can skip rendering them (the
    unique key still guards against a race)."""
    rows = conn.execute("SELECT dedupe_key FROM platform.outbox WHERE dedupe_key = ANY(%s::text[])",
                        (dedupe_keys,)).fetchall()
    return {key for (key,) in rows}


def backlog(conn: psycopg.Connection) -> dict[str, int]:
    """Rows waiting: {"pending": n, "due": n (pending and due now), "sending": n}."""
    pending, due, sending = conn.execute("""
        SELECT count(*) FILTER (WHERE status = 'pending'),
               count(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= now()),
               count(*) FILTER (WHERE status = 'sending')
          FROM platform.outbox WHERE status IN ('pending', 'sending')
    """).fetchone()
    return {"pending": pending, "due": due, "sending": sending}
