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
   Concurrent deliverers (several workers, a job and the sweeper, and the connections of one
   run, below) skip each other's rows. Expired leases, early retries after an outage (below)
   and due rows are each read from their own partial index in index order, so a claim costs
   the same with 1,000 or 1,000,000 rows waiting.
2. *Send* each row, then *record* the outcome in its own commit right after the send:
   ``sent`` (with ``sent_at``), or back to ``pending`` with ``last_error`` and exponential
   backoff (``backoff_seconds * 2**(attempts-1)``, capped, at least the server's
   ``Retry-After``), or ``dead`` once ``attempts`` reaches ``max_attempts`` or the receiver
   refused the message for good. Recording checks the lease (``claimed_until``), so a
   deliverer that lost its lease cannot overwrite another's outcome.
3. A batch that has used half its lease, or whose time budget (`budget`) runs out,
   hands its unsent rows back (``pending``, attempt not counted) instead of sending late.

**Throughput: several connections at once.** One run sends over up to `connections`
connections per channel at the same time: each is a thread with its own sender (an SMTP
session that sends many messages, one after the other; a keep-alive HTTP connection to FCM)
and its own database connection, and runs the loop above (claim a batch, send and record
each row). The first thread starts at once; another starts each time a claim comes back
full, so a sweep of three messages opens one connection and a backlog of a million opens
them all. Threads, not asyncio: the senders are blocking clients (smtplib, http.client)
that release the GIL while they wait on the network, each thread keeps the simple
send-then-record order per message that the guarantee below rests on, and the callers'
senders (and tests' fakes) stay plain objects with a ``send(row)``. What limits a Python
client is CPU, not waiting: ~0.25-0.4 ms per message (building the MIME message ~0.15 ms,
writing it ~0.03 ms, SMTP or HTTP round trips, the record), so one interpreter tops out near
1,500 emails/s on 2 cores however many connections it has (4 was the best in a probe). For that,
a run with a large backlog (at least `processes_from` due rows) also starts ``processes - 1``
**helper processes** (``python -c ...`` of this module, fed the run's settings and pickled
senders on stdin, answering with their counts on stdout): each runs the same threads against
the same table, SKIP LOCKED shares the rows, and they are killed with their parent (Linux
``PR_SET_PDEATHSIG``), so a killed deliverer leaves no sender behind. Every database session
of the deliverer runs with ``synchronous_commit = off``: a commit returns once its WAL
record is written to the server's buffers, not flushed to disk (~0.1 ms instead of a few ms).
That can only lose the last few hundred milliseconds of *records* if the database server
itself crashes; a lost ``sent`` record leaves the row ``sending`` and it is sent once more
after its lease (a duplicate, never a lost message); a lost claim only re-claims.

**Guarantee and its window.** A message that was recorded ``sent`` is never sent
again. The only way to get a duplicate is a crash (kill -9, lost worker, database gone)
*after* the receiver accepted a message and *before* its ``sent`` commit: the row stays
``sending`` until its lease expires, then is claimed and sent again. Because every message
is recorded in its own commit right after its send, at most **one message per connection in
flight** can be duplicated when a deliverer dies: ``connections`` per process of the run,
so ``processes x connections`` (8 with the defaults of the jobs, 2 x 4) for a run with
helpers; nothing is lost. The same holds when the outcome of a send is unknown (the SMTP
connection dropped during DATA, an HTTP read timed out): it is retried. Receivers can drop
such a duplicate: emails carry a ``Message-ID`` derived from the dedupe key and an
``X-Dedupe-Key`` header. A row whose lease expired with ``attempts >= max_attempts`` (a
message that keeps killing its deliverer) goes ``dead``. tests/include/common/
test_outbox_crash.py and bench/common_outbox.py kill a deliverer with SIGKILL at full speed
and count the duplicates at the receiver against this bound.

**Recovery after an outage.** A failure that never reached the server (connection refused
or dropped before the message went out, no sender configured, OAuth endpoint unreachable:
the sender's exception has a true ``unreachable``) is recorded with ``unreachable = true``
(migration 0013) beside its usual backoff. As soon as a run knows the channel answers again
(its sender's ``probe()`` succeeded at the start of the run, which is tried only when such
rows are waiting, or any send on the channel succeeded), its claims also take that channel's
unreachable rows whose backoff is not over: a message held back by an outage goes out on the
first sweep after the server is back, not up to an hour later. Refusals (SMTP 5xx, FCM
UNREGISTERED, INVALID_ARGUMENT) and throttling (429/503, which carry a ``Retry-After``) are
not "unreachable": they keep their backoff and go dead as before.

**Senders** (include/common/smtp.py `SmtpSender`, include/common/push.py `FcmSender`)
have ``send(row)``, which returns on success and raises on failure; an exception with a
true ``permanent`` attribute marks the row dead at once, one with ``channel_down`` (server
unreachable, throttling) fails the rest of that channel's batch without trying it and
stops claiming that channel for this run; ``retry_after`` (seconds) delays the next attempt;
``unreachable`` (see above) lets it go early once the channel is back. Optional:
``clone()`` (an independent sender with the same settings, for another connection; without
it the run uses one connection), ``probe()`` (raise like ``send`` if the server cannot be
reached), ``close()`` (called at the end of the run; senders reconnect on the next send).
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg

from include.common.messages import OutboxRow
from include.common.time_budget import TimeBudget

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000
CHANNEL_NAMES = ("email", "push")
DEFAULT_CONNECTIONS = 4  # per process: the probe on 2 cores peaked at 2-4 (SMTP and FCM alike)
HELPER_START_SECONDS = 30.0  # a helper process that has not claimed by then is given up on
ROOT = Path(__file__).resolve().parents[2]


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
    connections: int = 1  # sender connections that claimed rows, over all processes of the run
    processes: int = 1  # processes that took part (this one and its helpers)
    helper_peak_rss_mb: tuple[float, ...] = ()  # of each helper process that answered

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "dead": self.dead, "dead_ids": list(self.dead_ids),
                "channels_down": dict(self.channels_down), "stopped_early": self.stopped_early}


class Sender(Protocol):
    def send(self, row: OutboxRow) -> object: ...


class ChannelUnavailable(Exception):
    """No sender for a channel (e.g. the `fcm_api` connection is not defined), or a row not
    tried because its channel went down earlier in the run (with that failure's wait and
    whether it was unreachable)."""

    permanent = False
    channel_down = True

    def __init__(self, message: str, retry_after: float | None = None, unreachable: bool = True):
        super().__init__(message)
        self.retry_after = retry_after
        self.unreachable = unreachable


class UnavailableSender:
    """Stands in for a channel that cannot send: each row fails (and is retried later) with
    `reason`, while the other channel delivers normally."""

    def __init__(self, reason: str):
        self.reason = reason

    def send(self, row: OutboxRow) -> object:
        raise ChannelUnavailable(self.reason)

    def probe(self) -> None:
        raise ChannelUnavailable(self.reason)

    def clone(self) -> UnavailableSender:
        return self


_COLUMNS = "id, dedupe_key, channel, domain, recipient, subject, body_text, body_html, payload, attempts"

# A claim takes rows from one of three sources, each read from its own partial index in index
# order and locked with SKIP LOCKED (a row another claim holds is skipped, not waited for):
# leases that expired (their deliverer died; looked at when a connection starts and every
# EXPIRED_EVERY seconds), rows held back by an outage of a channel that answers again (early),
# and due rows. Early and due rows are read *after the connection's cursor*, the last key it
# claimed: the rows it already sent stay in those indexes as dead entries until VACUUM, and
# while any transaction of the server is older than the run (another database's counts) they
# cannot even be skipped cheaply, so a claim from the start of the index would read every
# message sent so far (seconds per claim at a million). A connection whose cursor finds
# nothing claims once more from the start (rows handed back behind it), then stops.
_CLAIM = f"""
    UPDATE platform.outbox
       SET status = 'sending', attempts = attempts + 1,
           claimed_until = now() + make_interval(secs => %(lease)s)
     WHERE id IN ({{source}})
    RETURNING {_COLUMNS}, claimed_until, next_attempt_at
"""
_EXPIRED = """
    SELECT id FROM platform.outbox
     WHERE status = 'sending' AND claimed_until < now() AND attempts < %(max_attempts)s
       AND channel <> ALL(%(skip)s::text[])
     ORDER BY claimed_until
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
"""
_EARLY = """
    SELECT id FROM platform.outbox
     WHERE status = 'pending' AND unreachable AND channel = %(channel)s AND id > %(after_id)s
       AND next_attempt_at > now()
     ORDER BY channel, id
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
"""
_DUE = """
    SELECT id FROM platform.outbox
     WHERE status = 'pending' AND next_attempt_at <= now()
       AND (next_attempt_at, id) > (%(after_at)s, %(after_id)s)
       AND channel <> ALL(%(skip)s::text[])
     ORDER BY next_attempt_at, id
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
"""
CLAIM_EXPIRED, CLAIM_EARLY, CLAIM_DUE = (_CLAIM.format(source=q) for q in (_EXPIRED, _EARLY, _DUE))
EXPIRED_EVERY = 30.0  # seconds between looks at expired leases during a run
START = (datetime.min.replace(tzinfo=UTC), 0)  # a cursor before every row

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
    UPDATE platform.outbox SET status = 'sent', sent_at = now(), claimed_until = NULL, unreachable = false
     WHERE id = %s AND status = 'sending' AND claimed_until = %s
"""

_MARK_FAILED = """
    UPDATE platform.outbox
       SET status = CASE WHEN %(permanent)s OR attempts >= %(max_attempts)s THEN 'dead' ELSE 'pending' END,
           last_error = %(error)s,
           unreachable = %(unreachable)s,
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

# Channels with rows held back by an outage whose backoff is not over: worth a probe.
_WAITING_UNREACHABLE = """
    SELECT c FROM unnest(%s::text[]) AS c
     WHERE EXISTS (SELECT 1 FROM platform.outbox
                    WHERE status = 'pending' AND unreachable AND channel = c AND next_attempt_at > now())
"""

_DUE_AT_LEAST = """
    SELECT count(*) FROM (SELECT 1 FROM platform.outbox
                           WHERE status = 'pending' AND next_attempt_at <= now() LIMIT %s) AS d
"""


@dataclass(frozen=True)
class _Settings:
    """What every connection (and helper process) of one run needs; picklable."""

    dsn: str
    batch_size: int
    max_attempts: int
    lease_seconds: float
    backoff: float
    max_backoff: float
    connections: int


class _Run:
    """The shared state of one run's connections (threads): counts, dead rows, channels
    down and up. Every method takes the lock; the counts are read once all threads ended."""

    def __init__(self, settings: _Settings, budget: TimeBudget):
        self.settings = settings
        self.budget = budget
        self.lock = threading.Lock()
        self.sent = 0
        self.failed = 0
        self.dead: list[dict] = []
        self.down: dict[str, str] = {}
        self.down_exc: dict[str, BaseException] = {}
        self.up: set[str] = set()
        self.stopped_early = False
        self.out_of_time = False
        self.errors: list[BaseException] = []
        self.connections_used = 0
        self.early_done: set[str] = set()  # channels whose held-back rows are all claimed
        self.expired_checked = float("-inf")
        self.cursor = START  # the highest due key a connection of this run claimed: where new ones start

    def claim_params(self) -> dict:
        with self.lock:
            return {"lease": self.settings.lease_seconds, "max_attempts": self.settings.max_attempts,
                    "skip": list(self.down), "limit": self.settings.batch_size}

    def early_channels(self) -> list[str]:
        """Channels that answer again and may still have rows held back by an outage."""
        with self.lock:
            return sorted(self.up - set(self.down) - self.early_done)

    def expired_due(self) -> bool:
        """Time for a look at expired leases (once per EXPIRED_EVERY seconds of the run)."""
        with self.lock:
            now = time.monotonic()
            if now - self.expired_checked < EXPIRED_EVERY:
                return False
            self.expired_checked = now
            return True

    def advance(self, cursor: tuple) -> None:
        with self.lock:
            self.cursor = max(self.cursor, cursor)

    def is_down(self, channel: str) -> bool:
        return channel in self.down

    def went_down(self, channel: str, exc: BaseException) -> None:
        with self.lock:
            if channel not in self.down:
                self.down[channel] = _error_text(exc)
                self.down_exc[channel] = exc
                log.warning("outbox: channel %s is down for this run: %s", channel, self.down[channel])
            self.up.discard(channel)

    def answered(self, channel: str) -> None:
        if channel not in self.up:
            with self.lock:
                if channel not in self.down:
                    self.up.add(channel)

    def count_sent(self) -> None:
        with self.lock:
            self.sent += 1

    def stopping(self) -> bool:
        return bool(self.errors) or self.out_of_time

    def report(self, helpers: list[dict] | None = None) -> DeliveryReport:
        helpers = helpers or []
        return DeliveryReport(
            sent=self.sent, failed=self.failed, dead=len(self.dead),
            dead_ids=tuple(d["id"] for d in self.dead), dead_details=tuple(self.dead),
            channels_down=dict(self.down), stopped_early=self.stopped_early,
            connections=self.connections_used, processes=1 + len(helpers),
            helper_peak_rss_mb=tuple(h.get("peak_rss_mb") for h in helpers if h.get("peak_rss_mb") is not None),
        )


def _error_text(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"[:MAX_ERROR_CHARS]


def _mark_failed(conn: psycopg.Connection, run: _Run, ids: list[int], lease: datetime, exc: BaseException) -> None:
    permanent = bool(getattr(exc, "permanent", False))
    retry_after = getattr(exc, "retry_after", None)
    error = _error_text(exc)
    rows = conn.execute(_MARK_FAILED, {
        "permanent": permanent, "max_attempts": run.settings.max_attempts, "error": error,
        "unreachable": bool(getattr(exc, "unreachable", False)) and not permanent,
        "backoff": run.settings.backoff, "max_backoff": run.settings.max_backoff,
        "retry_after": float(retry_after) if retry_after else None, "ids": ids, "lease": lease,
    }).fetchall()
    with run.lock:
        for row_id, key, status, channel, domain, recipient in rows:
            if status == "dead":
                # What a domain needs to act on a refusal (e.g. deactivate an unregistered FCM token):
                # include/platform/notifications.py passes the permanent ones to `on_permanent_refusal`.
                run.dead.append({"id": row_id, "dedupe_key": key, "error": error, "channel": channel,
                                 "domain": domain, "recipient": recipient, "permanent": permanent,
                                 "error_code": getattr(exc, "error_code", None)})
                log.warning("outbox %s (%s) is dead: %s", row_id, key, error)
            else:
                run.failed += 1
    if len(rows) < len(ids):
        log.warning("outbox: lease lost on %d of %d rows before recording a failure", len(ids) - len(rows), len(ids))


def _deliver_batch(conn: psycopg.Connection, run: _Run, batch: list[OutboxRow], lease: datetime,
                   senders: dict[str, Sender]) -> None:
    started = time.monotonic()
    skipped: dict[str, list[int]] = {}  # channel -> rows not tried because it went down
    for index, row in enumerate(batch):
        if run.is_down(row.channel):
            skipped.setdefault(row.channel, []).append(row.id)
            continue
        out_of_time = run.budget.exhausted()
        if out_of_time or run.stopping() or time.monotonic() - started > run.settings.lease_seconds / 2:
            rest = [r.id for r in batch[index:]]  # down channels' too: they were not tried
            conn.execute(_RELEASE, (rest, lease))
            if out_of_time:
                run.out_of_time = True
            log.info("outbox: handed back %d unsent rows (%s)", len(rest),
                     "time budget" if out_of_time else "stopping" if run.stopping() else "half the lease used")
            break
        try:
            senders[row.channel].send(row)
        except Exception as exc:  # recorded on the row (and in the report), never swallowed
            _mark_failed(conn, run, [row.id], lease, exc)
            if getattr(exc, "channel_down", False):
                run.went_down(row.channel, exc)
            continue
        # Recorded right away, in its own (asynchronously flushed) commit: the crash window is
        # this one message per connection.
        if conn.execute(_MARK_SENT, (row.id, lease)).rowcount != 1:
            log.warning("outbox %s (%s) was sent after its lease was lost", row.id, row.dedupe_key)
        run.count_sent()
        run.answered(row.channel)
    for channel, ids in skipped.items():
        cause = run.down_exc.get(channel)
        _mark_failed(conn, run, ids, lease, ChannelUnavailable(
            f"not tried, {channel} down: {run.down[channel]}", getattr(cause, "retry_after", None),
            unreachable=bool(getattr(cause, "unreachable", False))))


def _connect(dsn: str) -> psycopg.Connection:
    conn = psycopg.connect(dsn, autocommit=True, application_name="jobyard-outbox", connect_timeout=10)
    conn.execute("SET synchronous_commit = off")  # see the module docstring: a duplicate at worst, never a loss
    return conn


class _Pool:
    """The run's connection threads: one starts at once, another each time a claim comes
    back full, up to `settings.connections`. Each has its own senders and database session."""

    def __init__(self, run: _Run, senders: dict[str, Sender]):
        self.run = run
        self.first = senders
        self.senders: list[dict[str, Sender]] = []
        self.threads: list[threading.Thread] = []
        self.can_clone = all(callable(getattr(s, "clone", None)) for s in senders.values())
        self._lock = threading.Lock()

    def start(self) -> None:
        self._grow()

    def _grow(self) -> None:
        with self._lock:
            index = len(self.threads)
            if index >= (self.run.settings.connections if self.can_clone else 1) or self.run.stopping():
                return
            senders = self.first if index == 0 else {c: s.clone() for c, s in self.first.items()}
            self.senders.append(senders)
            thread = threading.Thread(target=self._work, args=(senders,), name=f"outbox-{index}", daemon=True)
            self.threads.append(thread)
        thread.start()

    def join(self) -> None:
        while True:
            with self._lock:
                pending = [t for t in self.threads if t.is_alive()]
            if not pending:
                return
            for thread in pending:
                thread.join()

    def close(self) -> None:
        for senders in self.senders:
            for sender in senders.values():
                close = getattr(sender, "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:  # a sender that cannot even close must not hide the run's outcome
                        log.exception("outbox: closing %r failed", sender)

    def _work(self, senders: dict[str, Sender]) -> None:
        run = self.run
        claimed_any = False
        try:
            with _connect(run.settings.dsn) as conn:
                claims = _Claims(conn, run)
                while not run.stopping():
                    if run.budget.exhausted():
                        run.out_of_time = True
                        break
                    claimed = claims.next()
                    if not claimed:
                        break
                    if not claimed_any:
                        claimed_any = True
                        with run.lock:
                            run.connections_used += 1
                    if len(claimed) >= run.settings.batch_size:
                        self._grow()
                    lease = claimed[0][-2]
                    batch = sorted((OutboxRow(*r[:-2]) for r in claimed), key=lambda r: r.id)
                    _deliver_batch(conn, run, batch, lease, senders)
        except BaseException as exc:  # the run raises it once every thread has ended
            log.exception("outbox: delivery connection failed")
            with run.lock:
                run.errors.append(exc)


class _Claims:
    """The claims of one connection: expired leases now and then, then rows held back by an
    outage of a channel that answers again, then due rows, each after this connection's
    cursor (see `_CLAIM`); empty when nothing is left."""

    def __init__(self, conn: psycopg.Connection, run: _Run):
        self.conn, self.run = conn, run
        self.due_after = run.cursor  # a connection that starts late begins where the others are
        self.early_after: dict[str, int] = {}

    def next(self) -> list[tuple]:
        run, params = self.run, self.run.claim_params()
        if run.expired_due():
            rows = self.conn.execute(CLAIM_EXPIRED, params).fetchall()
            if len(rows) >= params["limit"]:
                with run.lock:  # maybe more of them: look again at the next claim
                    run.expired_checked = float("-inf")
            if rows:
                return rows
        for channel in run.early_channels():
            rows = self.conn.execute(CLAIM_EARLY, {**params, "channel": channel,
                                                   "after_id": self.early_after.get(channel, 0)}).fetchall()
            if rows:
                self.early_after[channel] = max(r[0] for r in rows)
                return rows
            with run.lock:
                run.early_done.add(channel)
        for after in (self.due_after, START):
            rows = self.conn.execute(CLAIM_DUE, {**params, "after_at": after[0], "after_id": after[1]}).fetchall()
            if rows:
                self.due_after = max((r[-1], r[0]) for r in rows)
                run.advance(self.due_after)
                return rows
            if after == START:
                break
        return []


def _probe(conn: psycopg.Connection, run: _Run, senders: dict[str, Sender]) -> None:
    """Channels with rows held back by an outage: does the server answer again? Then this
    run's claims take those rows early (see the module docstring)."""
    waiting = [c for (c,) in conn.execute(_WAITING_UNREACHABLE, (list(senders),)).fetchall()]
    for channel in waiting:
        probe = getattr(senders[channel], "probe", None)
        if not callable(probe):
            continue
        try:
            probe()
        except Exception as exc:
            log.info("outbox: %s still unreachable, its held-back rows keep their backoff: %s",
                     channel, _error_text(exc))
            continue
        log.info("outbox: %s answers again: its rows held back by the outage go out now", channel)
        run.answered(channel)


def _run_connections(run: _Run, senders: dict[str, Sender]) -> None:
    pool = _Pool(run, senders)
    try:
        pool.start()
        pool.join()
    finally:
        pool.close()
    if run.errors:
        raise run.errors[0]


# -- helper processes --------------------------------------------------------------------------

class _Helper:
    """A helper process of the run: started with the settings and pickled senders on stdin,
    read back (its counts, pickled) from stdout by a thread of its own."""

    def __init__(self, payload: bytes):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from include.common.delivery import _helper_main; _helper_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=str(ROOT), env=env)
        self.result: dict | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._talk, args=(payload,), daemon=True)
        self._thread.start()

    def _talk(self, payload: bytes) -> None:
        try:
            out, _ = self.proc.communicate(payload)
            if self.proc.returncode == 0 and out:
                self.result = pickle.loads(out)
            else:
                self.error = f"helper process {self.proc.pid} exited with {self.proc.returncode}"
        except Exception as exc:  # reported by the parent's log
            self.error = f"helper process: {exc!r}"

    def join(self) -> None:
        self._thread.join()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when the thread that started it dies (kill -9 of the
    deliverer), so that no helper sends on without its parent."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the helper still ends when nothing is due
        pass
    if os.getppid() != parent:  # the parent died before the signal was set up
        os._exit(1)


def _helper_main() -> None:
    """Entry of a helper process: one run of connection threads, no probe, no expiry."""
    settings, remaining, up, senders, parent = pickle.loads(sys.stdin.buffer.read())
    _die_with_parent(parent)
    logging.basicConfig(level=logging.WARNING, format="[outbox helper %(process)d] %(levelname)s %(message)s")
    run = _Run(settings, TimeBudget(remaining))
    run.up.update(up)
    try:
        _run_connections(run, senders)
        error = None
    except Exception as exc:  # reported to the parent, which raises
        error = _error_text(exc)
    out = {"sent": run.sent, "failed": run.failed, "dead": run.dead, "down": run.down,
           "down_exc": {c: (_error_text(e), getattr(e, "retry_after", None), bool(getattr(e, "unreachable", False)))
                        for c, e in run.down_exc.items()},
           "out_of_time": run.out_of_time, "connections": run.connections_used, "error": error,
           "peak_rss_mb": _peak_rss_mb()}
    sys.stdout.buffer.write(pickle.dumps(out))
    sys.stdout.flush()


def _peak_rss_mb() -> float:
    """This process's own peak RSS: VmHWM (ru_maxrss of an exec'd child also counts the
    parent's RSS at the fork)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _start_helpers(run: _Run, senders: dict[str, Sender], count: int) -> list[_Helper]:
    try:
        clones = {c: s.clone() for c, s in senders.items()}
        payload = pickle.dumps((run.settings, run.budget.remaining(), set(run.up), clones, os.getpid()))
    except Exception as exc:  # e.g. a test's sender that cannot be pickled: this process alone
        log.info("outbox: no helper processes (senders cannot be handed over: %r)", exc)
        return []
    helpers = []
    for _ in range(count):
        try:
            helpers.append(_Helper(payload))
        except OSError as exc:  # no process to be had: the run goes on with what it has
            log.warning("outbox: could not start a helper process: %r", exc)
            break
    return helpers


def _merge_helpers(run: _Run, helpers: list[_Helper]) -> list[dict]:
    answered = []
    for helper in helpers:
        helper.join()
        if helper.result is None:
            # Its claimed rows stay 'sending' until their lease ends, then any run sends them.
            log.error("outbox: %s; its claimed rows go out after their lease", helper.error)
            run.errors.append(RuntimeError(helper.error))
            continue
        result = helper.result
        answered.append(result)
        run.sent += result["sent"]
        run.failed += result["failed"]
        run.dead += result["dead"]
        run.connections_used += result["connections"]
        run.out_of_time = run.out_of_time or result["out_of_time"]
        for channel, (text, retry_after, unreachable) in result["down_exc"].items():
            run.down.setdefault(channel, text)
            run.down_exc.setdefault(channel, ChannelUnavailable(text, retry_after, unreachable))
        if result["error"]:
            run.errors.append(RuntimeError(f"outbox helper process failed: {result['error']}"))
    return answered


# -- the entry point ---------------------------------------------------------------------------

def deliver_pending(dsn: str, email_sender: Sender | None, push_sender: Sender | None, *,
                    batch_size: int = 100, max_attempts: int = 5, lease_seconds: float = 300,
                    budget: TimeBudget | None = None,
                    backoff_seconds: float = 300, max_backoff_seconds: float = 3600,
                    connections: int = DEFAULT_CONNECTIONS, processes: int = 1,
                    processes_from: int = 5000) -> DeliveryReport:
    """Send the due messages of the outbox (see the module docstring) until none is due,
    every channel that has due rows is down, or the time `budget` runs out.

    A sender that is None fails its channel's rows with a clear error (retried later). With
    the defaults a failing message is retried after 5, 10, 20 and 40 minutes and goes dead
    on the 5th failure (a message held back by an outage goes as soon as its server answers).
    Up to `connections` connections per channel send at once; with `processes` > 1 and at
    least `processes_from` rows due, `processes - 1` helper processes join in. Senders'
    `close()`, if any, is called at the end (they reconnect on the next send)."""
    if batch_size < 1 or max_attempts < 1 or lease_seconds <= 0 or connections < 1 or processes < 1:
        raise ValueError("batch_size, max_attempts, lease_seconds, connections and processes must be positive")
    budget = budget or TimeBudget.unlimited()
    senders: dict[str, Sender] = {
        "email": email_sender or UnavailableSender("no email sender configured (connection smtp_default)"),
        "push": push_sender or UnavailableSender("no push sender configured (connection fcm_api)"),
    }
    settings = _Settings(dsn=dsn, batch_size=batch_size, max_attempts=max_attempts,
                         lease_seconds=float(lease_seconds), backoff=float(backoff_seconds),
                         max_backoff=float(max_backoff_seconds), connections=connections)
    run = _Run(settings, budget)
    helpers: list[_Helper] = []
    answered: list[dict] = []
    try:
        with _connect(dsn) as conn:
            for row_id, key, error in conn.execute(
                    _EXPIRE_EXHAUSTED, {"max_attempts": max_attempts, "max_chars": MAX_ERROR_CHARS}).fetchall():
                run.dead.append({"id": row_id, "dedupe_key": key, "error": error})
            _probe(conn, run, senders)
            if processes > 1 and conn.execute(_DUE_AT_LEAST, (processes_from,)).fetchone()[0] >= processes_from:
                helpers = _start_helpers(run, senders, processes - 1)
        try:
            _run_connections(run, senders)
        except BaseException:
            for helper in helpers:
                helper.kill()
            raise
        finally:
            answered = _merge_helpers(run, helpers)
        if run.errors:
            raise run.errors[0]
        if run.out_of_time:
            with _connect(dsn) as conn:
                run.stopped_early = bool(conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM platform.outbox WHERE status = 'pending' "
                    "AND next_attempt_at <= now() AND channel <> ALL(%s::text[]))", (list(run.down),),
                ).fetchone()[0])
    finally:
        for sender in senders.values():  # the pool closed its clones; these may have probed
            close = getattr(sender, "close", None)
            if callable(close):
                close()
    report = run.report(answered)
    log.info("outbox delivery: %s (%d connections, %d processes)", report.as_dict(), report.connections,
             report.processes)
    return report
