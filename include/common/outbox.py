"""The notification outbox (`platform.outbox`): every email and push is sent exactly once.

Plain Python (psycopg 3), no Airflow. Two halves:

**Enqueue** (`enqueue`): a job renders its messages and inserts them in *its own*
transaction, beside the data they are about, so a message exists if and only if that data
was committed. It streams (any iterable, rendered in chunks, COPY'd into a temp table, then
one INSERT ... SELECT), so the same call serves one welcome email and a million digests.
Each message has a dedupe key built by the caller from recipient + event +
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
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import psycopg

from include.common.email import UNSUBSCRIBE_KEY, InlineImage, inline_images_payload, render_email
from include.common.push import render_push
from include.common.unsubscribe import check_url as check_unsubscribe_url

CHANNELS = ("email", "push")
RENDER_CHUNK = 2000  # messages rendered and COPY'd at a time: bounds memory, not statements
_STAGE_TYPES = ["text"] * 8
_WHITESPACE = re.compile(r"\s")


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
    # Email only, recurring mail (digests, reports): the recipient's signed one-click unsubscribe
    # URL (include/common/unsubscribe.py). The templates get it as `unsubscribe_url` (the link in
    # the body); it is stored in the row's payload (`list_unsubscribe`) and sent as the RFC 8058
    # headers List-Unsubscribe / List-Unsubscribe-Post (email.build_message). Transactional mail
    # (welcome, alerts) has none.
    unsubscribe_url: str | None = None


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
    if not msg.recipient or _WHITESPACE.search(msg.recipient):
        raise ValueError(f"outbox message {msg.dedupe_key!r}: bad recipient {msg.recipient!r}")
    if not isinstance(msg.context, dict):
        raise ValueError(f"outbox message {msg.dedupe_key!r}: context must be a dict")
    if msg.channel == "email":
        if "@" not in msg.recipient:
            raise ValueError(f"outbox message {msg.dedupe_key!r}: {msg.recipient!r} is not an email address")
        context = msg.context
        payload: dict = {}
        if msg.unsubscribe_url is not None:
            try:
                check_unsubscribe_url(msg.unsubscribe_url)
            except ValueError as exc:
                raise ValueError(f"outbox message {msg.dedupe_key!r}: {exc}") from None
            context = {**context, "unsubscribe_url": msg.unsubscribe_url}
            payload[UNSUBSCRIBE_KEY] = msg.unsubscribe_url
        email = render_email(msg.domain, msg.template, context)
        if msg.images:
            payload.update(inline_images_payload(msg.images, email.html, f"outbox message {msg.dedupe_key!r}"))
        return (msg.dedupe_key, msg.channel, msg.domain, msg.recipient, email.subject, email.text, email.html,
                json.dumps(payload) if payload else None)
    if msg.images:
        raise ValueError(f"outbox message {msg.dedupe_key!r}: a push cannot carry inline images")
    if msg.unsubscribe_url is not None:
        raise ValueError(f"outbox message {msg.dedupe_key!r}: a push has no List-Unsubscribe header")
    push = render_push(msg.domain, msg.template, msg.context)
    payload_json = json.dumps({"data": push.data}) if push.data else None
    return (msg.dedupe_key, msg.channel, msg.domain, msg.recipient, push.title, push.body, None, payload_json)


# The rendered rows of one enqueue call are COPY'd into this temp table of the session (created
# on first use, ON COMMIT PRESERVE ROWS so it also works on an autocommit connection, emptied
# after every call), then moved into the outbox by one INSERT ... SELECT ... ON CONFLICT DO
# NOTHING: the same dedupe as an INSERT, at COPY's cost instead of one parameter array per column.
STAGE_TABLE = "outbox_enqueue_stage"
_COLUMNS = "dedupe_key, channel, domain, recipient, subject, body_text, body_html, payload"
# The bodies are compressed once, by the COPY into the stage, and the INSERT ... SELECT moves
# the compressed values into the outbox as they are (PostgreSQL never recompresses a copied
# datum): with lz4 where the server has it (PostgreSQL 14+ built with lz4, as the Debian and
# official builds are), about 5x less backend CPU than the default pglz for rendered HTML; the
# outbox reads either kind transparently.
_CREATE_STAGE = """
    CREATE TEMP TABLE {table} (
        dedupe_key text, channel text, domain text, recipient text,
        subject text, body_text text {compression}, body_html text {compression}, payload text
    ) ON COMMIT PRESERVE ROWS
"""
_CHECK = f"""
    SELECT to_regclass('platform.outbox'), to_regclass('pg_temp.{STAGE_TABLE}'),
           coalesce((SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'), false)
"""
_COPY = f"COPY pg_temp.{STAGE_TABLE} ({_COLUMNS}) FROM STDIN (FORMAT binary)"
# No ORDER BY: a sequential scan of a temp table (never parallel, never a synchronized scan)
# returns the rows in the order they were copied, so ids follow the caller's order without a
# sort of every rendered body. A key that is in the stage twice (repeated in two chunks) is
# inserted once, its first row: ON CONFLICT DO NOTHING also skips a row that conflicts with
# one inserted earlier by the same statement.
_MOVE = f"""
    INSERT INTO platform.outbox ({_COLUMNS})
    SELECT dedupe_key, channel, domain, recipient, subject, body_text, body_html, payload::jsonb
      FROM pg_temp.{STAGE_TABLE}
    ON CONFLICT (dedupe_key) DO NOTHING
"""


def _chunks(messages: Iterable[OutboxMessage], size: int) -> Iterator[list[tuple]]:
    """Rendered rows, `size` at a time, each dedupe key once per chunk (the first message
    wins; a repeat is not rendered). Only the chunk's keys are kept, so memory stays flat
    however long the stream; a key repeated in a later chunk is dropped by the INSERT."""
    chunk: list[tuple] = []
    seen: set[str] = set()
    for msg in messages:
        if msg.dedupe_key in seen:
            continue
        seen.add(msg.dedupe_key)
        chunk.append(_render(msg))
        if len(chunk) >= size:
            yield chunk
            chunk, seen = [], set()
    if chunk:
        yield chunk


def enqueue(conn: psycopg.Connection, messages: Iterable[OutboxMessage], *, chunk_size: int = RENDER_CHUNK) -> int:
    """Render and insert in the CALLER's transaction (no commit); duplicates by dedupe_key
    are ignored (ON CONFLICT DO NOTHING, and the first of several messages with one key
    wins); returns how many are new.

    Streaming: `messages` may be any iterable, a generator included; it is rendered
    `chunk_size` messages at a time and each chunk is COPY'd into a temp table of the session
    (memory holds one chunk and its keys, not the whole stream), then ONE `INSERT ... SELECT ... ON
    CONFLICT (dedupe_key) DO NOTHING` moves them all into `platform.outbox`. Statements: the
    outbox check, the temp table's CREATE on a session's first call, one COPY per chunk, the
    INSERT, a TRUNCATE of the temp table.

    A bad message (unknown channel, domain or template, missing template variable, a bad
    unsubscribe URL) raises ValueError / a Jinja2 error before anything is inserted into the
    outbox, wherever it is in the stream: the chunks staged before it are discarded and the
    caller's transaction stays usable. A database without `platform.outbox` raises
    OutboxMissingError."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    outbox, stage, lz4 = conn.execute(_CHECK).fetchone()
    if outbox is None:
        raise OutboxMissingError(
            f"platform.outbox does not exist in database {conn.info.dbname!r} on {conn.info.host}:{conn.info.port}: "
            "the outbox must be in the same database as the domain's data, so that a message commits with the "
            "data that caused it. Point <domain>_db and platform_db at the same database (migrated to head).")
    staged = 0
    with conn.cursor() as cur:
        try:
            for chunk in _chunks(messages, chunk_size):
                if stage is None:
                    cur.execute(_CREATE_STAGE.format(table=STAGE_TABLE, compression="COMPRESSION lz4" if lz4 else ""))
                    stage = STAGE_TABLE
                with cur.copy(_COPY) as copy:
                    copy.set_types(_STAGE_TYPES)
                    for row in chunk:
                        copy.write_row(row)
                staged += len(chunk)
        except Exception:
            if staged and conn.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
                cur.execute(f"TRUNCATE pg_temp.{STAGE_TABLE}")
            raise
        if not staged:
            return 0
        cur.execute(_MOVE)
        new = cur.rowcount
        cur.execute(f"TRUNCATE pg_temp.{STAGE_TABLE}")
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
