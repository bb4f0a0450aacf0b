"""The operator's page: notifications, requeues, shared rate limits and health at a glance.

Plain Python (no Airflow): every function takes a psycopg connection or a Redis client; the
Airflow plugin (plugins/operator_page.py) authenticates the user, opens them and renders
`render_page`. SQL lives in include/platform/repository/operator_page.py.

What the page shows, each bounded:
- counts of `platform.outbox` per domain, channel and state, for the messages queued in
  the last 24 h and the last 7 d;
- a search by recipient or dedupe key (exact match, parametrised): state, attempts, last
  error, sent time and the DAG run that queued it (`queued_by`, migration 0012), newest first;
- dead messages grouped by their last error;
- requeue of one dead message or of one error group (up to `GROUP_REQUEUE_LIMIT` rows per
  action) back to pending with fresh attempts, recorded in `platform.outbox_requeues` (who,
  when, how many, which) in the same transaction. Only rows that are `dead` and were never
  sent move: a sent message is never requeued, so exactly-once delivery holds;
- for each configured shared rate limit (`rate_limits` variable over the defaults of
  include/common/rate_limit.py) the grants in the current window, read from Redis;
- the state of each health check (ok/bad, since when) with its latest reading.

Nothing secret is shown: no message body or payload is read, push recipients (FCM device
tokens) are shortened, errors are cut to 500 characters.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import psycopg
import redis

from include.common.rate_limit import KEY_PREFIX, Limit
from include.platform.repository import operator_page as repository

STATES = ("pending", "sending", "sent", "dead")
SEARCH_LIMIT = 50
DEAD_GROUPS_LIMIT = 50
COUNTS_LIMIT = 500  # (domain, channel, state) groups: far more than there are
HEALTH_LIMIT = 200
REQUEUES_SHOWN = 10
GROUP_REQUEUE_LIMIT = 10_000  # rows per group requeue; the rest takes another click
MAX_QUERY_CHARS = 400  # longer than any recipient or dedupe key we build
_ERROR_KEY = re.compile(r"^[0-9a-f]{32}$")
TEMPLATE = Path(__file__).with_name("operator_page.html.j2")


class RequeueError(ValueError):
    """A requeue request that names nothing, or both a message and a group, or a bad key."""


def mask_recipient(channel: str, recipient: str) -> str:
    """An email address as is (the operator searches by it); an FCM device token, which
    authorises sending to a device, cut to its first 6 and last 4 characters."""
    if channel == "push" and len(recipient) > 14:
        return f"{recipient[:6]}…{recipient[-4:]}"
    return recipient


def normalise_query(q: str | None) -> str | None:
    """The search text stripped; None for an empty one; ValueError when it cannot be a
    recipient or dedupe key (too long)."""
    q = (q or "").strip()
    if not q:
        return None
    if len(q) > MAX_QUERY_CHARS:
        raise ValueError(f"search text longer than {MAX_QUERY_CHARS} characters")
    return q


def notification_counts(conn: psycopg.Connection, now: datetime | None = None) -> list[dict]:
    """[{domain, channel, last_24h: {state: n}, last_7d: {state: n}}] of the messages queued
    in the last 7 days, every state present (0 when none)."""
    now = now or datetime.now(UTC)
    table: dict[tuple[str, str], dict] = {}
    for row in repository.counts(conn, now, COUNTS_LIMIT):
        entry = table.setdefault((row["domain"], row["channel"]), {
            "domain": row["domain"], "channel": row["channel"],
            "last_24h": dict.fromkeys(STATES, 0), "last_7d": dict.fromkeys(STATES, 0)})
        entry["last_24h"][row["status"]] = row["last_24h"]
        entry["last_7d"][row["status"]] = row["last_7d"]
    return [table[key] for key in sorted(table)]


def search_messages(conn: psycopg.Connection, q: str) -> list[dict]:
    """The newest `SEARCH_LIMIT` messages whose recipient or dedupe key is exactly `q`."""
    rows = repository.search(conn, q, SEARCH_LIMIT)
    for row in rows:
        row["recipient"] = mask_recipient(row["channel"], row["recipient"])
    return rows


def dead_groups(conn: psycopg.Connection) -> list[dict]:
    """Dead messages by last error, largest group first: error_key (md5 of the error, what a
    group requeue names), last_error, messages, sources (domain/channel), first/last created."""
    return repository.dead_groups(conn, DEAD_GROUPS_LIMIT)


def health(conn: psycopg.Connection) -> list[dict]:
    """Each check's state (bad ones first) with its latest reading."""
    return repository.health(conn, HEALTH_LIMIT)


def recent_requeues(conn: psycopg.Connection) -> list[dict]:
    return repository.recent_requeues(conn, REQUEUES_SHOWN)


def requeue(conn: psycopg.Connection, who: str, *, message_id: int | None = None,
            error_key: str | None = None) -> dict:
    """Move one dead message (`message_id`) or one error group (`error_key`, from
    `dead_groups`) back to pending and record it; the caller commits. Returns {requeue_id,
    requeued, message_ids, remaining (group only: dead rows of the group left), reason
    (message only, when nothing moved: "not found" or its state)}."""
    if (message_id is None) == (error_key is None):
        raise RequeueError("name exactly one of message_id and error_key")
    if not who:
        raise RequeueError("a requeue needs the user who asks for it")
    if message_id is not None:
        done = repository.requeue_message(conn, message_id, who)
        result = {"requeue_id": done["id"], "requeued": done["requeued"], "message_ids": done["message_ids"]}
        if not done["requeued"]:
            state = repository.message_state(conn, message_id)
            result["reason"] = "not found" if state is None else f"message is {state[0]}, not dead"
        return result
    if not _ERROR_KEY.match(error_key or ""):
        raise RequeueError("error_key must be the 32 hex digits of a dead-message group")
    done = repository.requeue_group(conn, error_key, who, GROUP_REQUEUE_LIMIT)
    return {"requeue_id": done["id"], "requeued": done["requeued"], "message_ids": done["message_ids"],
            "remaining": repository.remaining_in_group(conn, error_key, GROUP_REQUEUE_LIMIT)}


def rate_limit_usage(client: redis.Redis, limits: Mapping[str, Limit], key_prefix: str = KEY_PREFIX) -> list[dict]:
    """Per limit: its configuration and what Redis holds now, in one round trip after TIME.
    Strict limits (a sliding log, a sorted set of grant times in us): the grants in the last
    window. Buckets (a hash of tokens and their time): the tokens free now, refilled as the
    limiter's script refills them, and so the grants that the window still counts."""
    names = sorted(limits)
    seconds, micros = client.time()
    now_us = seconds * 1_000_000 + micros
    pipe = client.pipeline(transaction=False)
    for api in names:
        key, limit = f"{key_prefix}{api}", limits[api]
        if limit.strict:
            pipe.zcount(key, now_us - int(limit.window * 1e6), "+inf")
        else:
            pipe.hmget(key, "tokens", "ts")
        pipe.type(key)
    answers = pipe.execute()
    usage = []
    for i, api in enumerate(names):
        limit, value, kind = limits[api], answers[2 * i], answers[2 * i + 1]
        kind = kind.decode() if isinstance(kind, bytes) else kind
        entry: dict[str, Any] = {"api": api, "limit": str(limit), "mode": "strict" if limit.strict else "bucket",
                                 "rate": limit.rate, "window_s": limit.window, "capacity": limit.capacity}
        if limit.strict:
            granted = int(value) if kind == "zset" else 0
        elif kind == "hash" and value[0] is not None:
            per_token_us = limit.window * 1e6 / limit.rate
            tokens = float(value[0]) + max(0, now_us - int(value[1])) / per_token_us
            granted = max(0, round(limit.capacity - min(limit.capacity, tokens)))
        else:
            granted = 0
        entry["granted"] = granted
        entry["free"] = max(0, limit.capacity - granted)
        usage.append(entry)
    return usage


def overview(conn: psycopg.Connection, q: str | None = None, now: datetime | None = None) -> dict:
    """Everything of the page that lives in PostgreSQL, with each part's time (ms)."""
    timings: dict[str, float] = {}

    def timed(name: str, fn, *args):
        started = time.perf_counter()
        value = fn(*args)
        timings[name] = round((time.perf_counter() - started) * 1000, 1)
        return value

    data = {
        "counts": timed("counts", notification_counts, conn, now),
        "dead_groups": timed("dead_groups", dead_groups, conn),
        "requeues": timed("requeues", recent_requeues, conn),
        "health": timed("health", health, conn),
        "query": q,
        "messages": timed("search", search_messages, conn, q) if q else None,
    }
    data["timings_ms"] = timings
    return data


_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


_ENV.filters["when"] = _when


def render_page(data: Mapping[str, Any], *, user: str, can_requeue: bool, rate_limits: list[dict] | None,
                rate_limits_error: str | None, base_path: str) -> str:
    """The page's HTML (autoescaped Jinja): `data` from `overview`, the rate limits (or why
    Redis could not be read), whether this user may requeue, and the path the page is served
    under (its form and API calls are relative to it)."""
    return _ENV.get_template(TEMPLATE.name).render(
        **data, states=STATES, user=user, can_requeue=can_requeue, rate_limits=rate_limits,
        rate_limits_error=rate_limits_error, base=base_path.rstrip("/"), now=datetime.now(UTC),
        group_limit=GROUP_REQUEUE_LIMIT)
