"""Delivery of the outbox (`platform.outbox`, filled by include/common/outbox.py `enqueue`).

Plain Python (psycopg 3), no Airflow. **Delivery** (`deliver_pending`, run by the jobs and by the sweeper DAG
`platform_deliver_notifications`). A row moves::

    pending --claim--> sending --sent ok-------------------> sent
                          |----failure, attempts < max----> pending (next_attempt_at = now + backoff)
                          |----failure, attempts = max-----> dead    (alert to the platform owners)
                          '----permanent refusal-----------> dead    (e.g. FCM UNREGISTERED)

1. *Claim*: one statement ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)``
   takes a batch of due rows, sets ``status = 'sending'``, ``attempts + 1`` and a lease
   (``claimed_until = now() + lease_seconds``), and commits **before** anything is sent.
   Concurrent deliverers (several workers, a job and the sweeper) skip each other's rows.
2. *Send* each row, then *record* the outcome in its own commit right after the send:
   ``sent`` (with ``sent_at``), or back to ``pending`` with ``last_error`` and exponential
   backoff (``backoff_seconds * 2**(attempts-1)``, capped, at least the server's
   ``Retry-After``), or ``dead`` once ``attempts`` reaches ``max_attempts`` or the receiver
   refused the message for good. Recording checks the lease (``claimed_until``), so a
   deliverer that lost its lease cannot overwrite another's outcome.
3. A batch that has used half its lease, or whose time budget (`budget`) runs out,
   hands its unsent rows back (``pending``, attempt not counted) instead of sending late.

**Guarantee and its one window.** A message that was recorded ``sent`` is never sent
again. The only way to get a duplicate is a crash (kill -9, lost worker, database gone)
*after* the receiver accepted a message and *before* its ``sent`` commit: the row stays
``sending`` until its lease expires, then is claimed and sent again. Because every message
is recorded in its own commit right after its send, at most **one message per crashed
deliverer** (the one in flight) can be duplicated; nothing is lost. The same holds when the
outcome of a send is unknown (the SMTP connection dropped during DATA, an HTTP read timed
out): it is retried. Receivers can drop such a duplicate: emails carry a ``Message-ID``
derived from the dedupe key and an ``X-Dedupe-Key`` header. A row whose lease expired with
``attempts >= max_attempts`` (a message that keeps killing its deliverer) goes ``dead``.

**Senders** (include/common/email.py `SmtpSender`, include/common/push.py `FcmSender`)
have ``send(row)``, which returns on success and raises on failure; an exception with a
true ``permanent`` attribute marks the row dead at once, one with ``channel_down`` (server
unreachable, throttling) fails the rest of that channel's batch without trying it and
stops claiming that channel for this run; ``retry_after`` (seconds) delays the next attempt.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import psycopg

from include.common.messages import OutboxRow
from include.common.time_budget import TimeBudget

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    failed: int  # attempts that failed and were rescheduled
    dead: int  # rows that went dead in this run
    dead_ids: tuple[int, ...] = ()
    # {"id", "dedupe_key", "error"} of each dead row; rows refused in this run also carry "channel", "domain",
    # "recipient", "permanent" (refused for good, not out of attempts) and the receiver's "error_code".
    dead_details: tuple[dict, ...] = ()
    channels_down: dict[str, str] = field(default_factory=dict)  # channel -> the error that stopped it
    stopped_early: bool = False  # the time budget ran out with rows still due

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "dead": self.dead, "dead_ids": list(self.dead_ids),
                "channels_down": dict(self.channels_down), "stopped_early": self.stopped_early}


class Sender(Protocol):
    def send(self, row: OutboxRow) -> object: ...


class ChannelUnavailable(Exception):
    """No sender for a channel (e.g. the `fcm_api` connection is not defined), or a row not
    tried because its channel went down earlier in the batch (with that failure's wait)."""

    permanent = False
    channel_down = True

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class UnavailableSender:
    """Stands in for a channel that cannot send: each row fails (and is retried later) with
    `reason`, while the other channel delivers normally."""

    def __init__(self, reason: str):
        self.reason = reason

    def send(self, row: OutboxRow) -> object:
        raise ChannelUnavailable(self.reason)


_COLUMNS = "id, dedupe_key, channel, domain, recipient, subject, body_text, body_html, payload, attempts"

_CLAIM = f"""
    UPDATE platform.outbox
       SET status = 'sending', attempts = attempts + 1,
           claimed_until = now() + make_interval(secs => %(lease)s)
     WHERE id IN (
           SELECT id FROM platform.outbox
            WHERE ((status = 'pending' AND next_attempt_at <= now())
                OR (status = 'sending' AND claimed_until < now() AND attempts < %(max_attempts)s))
              AND channel <> ALL(%(skip)s::text[])
            ORDER BY next_attempt_at, id
            LIMIT %(limit)s
              FOR UPDATE SKIP LOCKED)
    RETURNING {_COLUMNS}, claimed_until
"""

# Leases that expired on a row's last allowed attempt: the deliverer died (maybe because of
# this very message) max_attempts times. Dead, rather than sending it once more.
_EXPIRE_EXHAUSTED = """
    UPDATE platform.outbox
       SET status = 'dead', claimed_until = NULL,
           last_error = left('delivery interrupted (lease expired) on attempt ' || attempts
                             || coalesce('; previous error: ' || last_error, ''), %(max_chars)s)
     WHERE status = 'sending' AND claimed_until < now() AND attempts >= %(max_attempts)s
    RETURNING id, dedupe_key, last_error
"""

_MARK_SENT = """
    UPDATE platform.outbox SET status = 'sent', sent_at = now(), claimed_until = NULL
     WHERE id = %s AND status = 'sending' AND claimed_until = %s
"""

_MARK_FAILED = """
    UPDATE platform.outbox
       SET status = CASE WHEN %(permanent)s OR attempts >= %(max_attempts)s THEN 'dead' ELSE 'pending' END,
           last_error = %(error)s,
           claimed_until = NULL,
           next_attempt_at = now() + make_interval(secs => greatest(
               least(%(backoff)s * power(2, greatest(attempts - 1, 0)), %(max_backoff)s),
               %(retry_after)s))
     WHERE id = ANY(%(ids)s) AND status = 'sending' AND claimed_until = %(lease)s
    RETURNING id, dedupe_key, status, channel, domain, recipient
"""

# Hand back rows claimed but not tried: the attempt counted at claim did not happen.
_RELEASE = """
    UPDATE platform.outbox
       SET status = 'pending', claimed_until = NULL, attempts = greatest(attempts - 1, 0)
     WHERE id = ANY(%s) AND status = 'sending' AND claimed_until = %s
"""


@dataclass
class _Run:
    max_attempts: int
    backoff: float
    max_backoff: float
    sent: int = 0
    failed: int = 0
    dead: list[dict] = field(default_factory=list)
    down: dict[str, str] = field(default_factory=dict)
    down_retry_after: dict[str, float | None] = field(default_factory=dict)
    stopped_early: bool = False

    def report(self) -> DeliveryReport:
        return DeliveryReport(
            sent=self.sent, failed=self.failed, dead=len(self.dead),
            dead_ids=tuple(d["id"] for d in self.dead), dead_details=tuple(self.dead),
            channels_down=dict(self.down), stopped_early=self.stopped_early,
        )


def _error_text(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"[:MAX_ERROR_CHARS]


def _mark_failed(conn: psycopg.Connection, run: _Run, ids: list[int], lease: datetime, exc: BaseException) -> None:
    permanent = bool(getattr(exc, "permanent", False))
    retry_after = getattr(exc, "retry_after", None)
    error = _error_text(exc)
    rows = conn.execute(_MARK_FAILED, {
        "permanent": permanent, "max_attempts": run.max_attempts, "error": error, "backoff": run.backoff,
        "max_backoff": run.max_backoff, "retry_after": float(retry_after) if retry_after else None,
        "ids": ids, "lease": lease,
    }).fetchall()
    for row_id, key, status, channel, domain, recipient in rows:
        if status == "dead":
            # What a domain needs to act on a refusal (e.g. deactivate an unregistered FCM token):
            # include/platform/notifications.py passes the permanent ones to `on_permanent_refusal`.
            run.dead.append({"id": row_id, "dedupe_key": key, "error": error, "channel": channel, "domain": domain,
                             "recipient": recipient, "permanent": permanent,
                             "error_code": getattr(exc, "error_code", None)})
            log.warning("outbox %s (%s) is dead: %s", row_id, key, error)
        else:
            run.failed += 1
    if len(rows) < len(ids):
        log.warning("outbox: lease lost on %d of %d rows before recording a failure", len(ids) - len(rows), len(ids))


def _deliver_batch(conn: psycopg.Connection, run: _Run, batch: list[OutboxRow], lease: datetime,
                   senders: dict[str, Sender], lease_seconds: float,
                   budget: TimeBudget) -> None:
    started = time.monotonic()
    skipped: dict[str, list[int]] = {}  # channel -> rows not tried because it went down
    for index, row in enumerate(batch):
        if row.channel in run.down:
            skipped.setdefault(row.channel, []).append(row.id)
            continue
        out_of_time = budget.exhausted()
        if out_of_time or time.monotonic() - started > lease_seconds / 2:
            rest = [r.id for r in batch[index:]]  # down channels' too: they were not tried
            conn.execute(_RELEASE, (rest, lease))
            run.stopped_early = run.stopped_early or out_of_time
            log.info("outbox: handed back %d unsent rows (%s)", len(rest),
                     "time budget" if out_of_time else "half the lease used")
            break
        try:
            senders[row.channel].send(row)
        except Exception as exc:  # recorded on the row (and in the report), never swallowed
            _mark_failed(conn, run, [row.id], lease, exc)
            if getattr(exc, "channel_down", False):
                run.down[row.channel] = _error_text(exc)
                run.down_retry_after[row.channel] = getattr(exc, "retry_after", None)
                log.warning("outbox: channel %s is down for this run: %s", row.channel, run.down[row.channel])
            continue
        if conn.execute(_MARK_SENT, (row.id, lease)).rowcount != 1:
            log.warning("outbox %s (%s) was sent after its lease was lost", row.id, row.dedupe_key)
        run.sent += 1
    for channel, ids in skipped.items():
        _mark_failed(conn, run, ids, lease, ChannelUnavailable(f"not tried, {channel} down: {run.down[channel]}",
                                                               run.down_retry_after.get(channel)))


def deliver_pending(dsn: str, email_sender: Sender | None, push_sender: Sender | None, *,
                    batch_size: int = 100, max_attempts: int = 5, lease_seconds: float = 300,
                    budget: TimeBudget | None = None,
                    backoff_seconds: float = 300, max_backoff_seconds: float = 3600) -> DeliveryReport:
    """Send the due messages of the outbox (see the module docstring) until none is due,
    every channel that has due rows is down, or the time `budget` runs out.

    A sender that is None fails its channel's rows with a clear error (retried later). With
    the defaults a failing message is retried after 5, 10, 20 and 40 minutes and goes dead
    on the 5th failure. Senders' `close()`, if any, is called at the end (they reconnect on
    the next send)."""
    if batch_size < 1 or max_attempts < 1 or lease_seconds <= 0:
        raise ValueError("batch_size, max_attempts and lease_seconds must be positive")
    budget = budget or TimeBudget.unlimited()
    senders: dict[str, Sender] = {
        "email": email_sender or UnavailableSender("no email sender configured (connection smtp_default)"),
        "push": push_sender or UnavailableSender("no push sender configured (connection fcm_api)"),
    }
    run = _Run(max_attempts=max_attempts, backoff=float(backoff_seconds), max_backoff=float(max_backoff_seconds))
    try:
        with psycopg.connect(dsn, autocommit=True, application_name="jobyard-outbox", connect_timeout=10) as conn:
            for row_id, key, error in conn.execute(
                    _EXPIRE_EXHAUSTED, {"max_attempts": max_attempts, "max_chars": MAX_ERROR_CHARS}).fetchall():
                run.dead.append({"id": row_id, "dedupe_key": key, "error": error})
            while True:
                if budget.exhausted():
                    run.stopped_early = bool(conn.execute(
                        "SELECT EXISTS (SELECT 1 FROM platform.outbox WHERE status = 'pending' "
                        "AND next_attempt_at <= now() AND channel <> ALL(%s::text[]))", (list(run.down),),
                    ).fetchone()[0])
                    break
                claimed = conn.execute(_CLAIM, {"lease": float(lease_seconds), "max_attempts": max_attempts,
                                                "skip": list(run.down), "limit": batch_size}).fetchall()
                if not claimed:
                    break
                lease = claimed[0][-1]
                batch = sorted((OutboxRow(*r[:-1]) for r in claimed), key=lambda r: r.id)
                _deliver_batch(conn, run, batch, lease, senders, lease_seconds, budget)
                if run.stopped_early:
                    break
    finally:
        for sender in senders.values():
            close = getattr(sender, "close", None)
            if callable(close):
                close()
    report = run.report()
    log.info("outbox delivery: %s", report.as_dict())
    return report
