"""The weekly content digest: each active user who follows someone and has not opted out
gets one email with the week's top posts of the accounts they follow.

Rules (all taken at the data interval, never at `now()`):
- the week is the interval [week_start, week_end); its posts are those created in it;
- a recipient is active (`is_active`), seen within ACTIVE_DAYS before `week_end`
  (`last_activity_at >= week_end - 30 days`; the column keeps only the latest activity, so a
  later one counts too), has not opted out (`digest_opt_out`), and follows (since before
  `week_end`) at least one account that posted in the week; nobody else gets an email;
- a post's score is likes + 3 * comments made before `week_end`; a recipient gets the top N
  of their candidates, best first, ties by the lower post id;
- once per user per week: dedupe key `digest:<user_id>:<ISO year-week of week_start>`, so a
  rerun or backfill of the week queues nothing new.

Set-based: each author's top N posts of the week are staged once per run (a temp table:
a recipient's top N are always among their followees' top N), then recipients are taken in
key ranges of user ids; one statement computes a whole range's digests (a top-N of the
staged posts of each recipient's follows, aggregated as JSON) and they are queued in that
batch's transaction (include/common/outbox.py `enqueue`: rendered in chunks, COPY'd),
committed batch by batch. One-click unsubscribe: list `digest` of domain `social`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import psycopg

from include.common.outbox import OutboxMessage, enqueue, existing_keys
from include.common.time_budget import TimeBudget, run_batches
from include.common.unsubscribe import UnsubscribeLinks
from include.social.repository import digest as repository

TEMPLATE = "social/digest"
LIST_ID = "digest"  # the one-click unsubscribe list (include/common/unsubscribe.py)
ACTIVE_DAYS = 30


def week_label(week_start: datetime) -> str:
    """The ISO year-week of the interval start, e.g. "2026-W03" (in week_start's own zone)."""
    year, week, _ = week_start.isocalendar()
    return f"{year}-W{week:02d}"


def date_range(first: date, last: date) -> str:
    """A short range for a subject line: "Nov 23–29", "Nov 30 – Dec 6", "Dec 28, 2026 – Jan 3, 2027"."""
    if first.year != last.year:
        return f"{first:%b} {first.day}, {first.year} – {last:%b} {last.day}, {last.year}"
    if first.month != last.month:
        return f"{first:%b} {first.day} – {last:%b} {last.day}"
    return f"{first:%b} {first.day}–{last.day}"


def dedupe_key(user_id: int, week_start: datetime) -> str:
    return f"digest:{user_id}:{week_label(week_start)}"


def key_ranges(lowest: int, highest: int, size: int) -> list[tuple[int, int]]:
    """Half-open ranges [lo, hi) of `size` ids covering lowest..highest."""
    return [(lo, min(lo + size, highest + 1)) for lo in range(lowest, highest + 1, size)]


def _message(row: dict, week_start: datetime, week_end: datetime,
             unsubscribe: UnsubscribeLinks | None = None) -> OutboxMessage:
    return OutboxMessage(
        dedupe_key=dedupe_key(row["user_id"], week_start),
        channel="email",
        domain="social",
        recipient=row["email"],
        template=TEMPLATE,
        context={
            "name": row["full_name"].strip() or row["username"],
            "username": row["username"],
            "week": week_label(week_start),
            "week_start": week_start.date().isoformat(),
            "week_end": (week_end - timedelta(microseconds=1)).date().isoformat(),
            # In the subject, so that mail clients neither thread weeks together nor show one title.
            "week_dates": date_range(week_start.date(), (week_end - timedelta(microseconds=1)).date()),
            "posts": row["posts"],
        },
        unsubscribe_url=unsubscribe.url(LIST_ID, row["user_id"]) if unsubscribe else None,
    )


def queue_digests(conn: psycopg.Connection, week_start: datetime, week_end: datetime, *, top_n: int = 5,
                  batch_size: int = 5000, budget: TimeBudget | None = None,
                  unsubscribe: UnsubscribeLinks | None = None) -> dict:
    """Queue the digests of the week [week_start, week_end), committing after each batch.
    With `unsubscribe` (the DAG always passes it: include/orchestration/unsubscribe.py) each
    digest carries its recipient's one-click unsubscribe link (List-Unsubscribe headers and
    the body's link); without it (benchmarks, tests of the ranking) it has none.

    Returns {"week", "recipients", "queued", "skipped_already_sent", "batches"}: recipients
    is who has a digest this week, queued the messages new in the outbox, skipped those
    queued by an earlier run. When `budget` runs out with batches left, raises
    SoftTimeLimitExceeded after the finished batches were committed (a rerun continues:
    their messages are not queued twice)."""
    if week_start.tzinfo is None or week_end.tzinfo is None:
        raise ValueError("week_start and week_end must be time-zone aware")
    if week_start >= week_end:
        raise ValueError(f"empty week: {week_start.isoformat()} is not before {week_end.isoformat()}")
    if top_n < 1 or batch_size < 1:
        raise ValueError(f"top_n ({top_n}) and batch_size ({batch_size}) must be at least 1")
    active_since = week_end - timedelta(days=ACTIVE_DAYS)
    bounds = repository.recipient_id_bounds(conn, active_since)
    ranges = key_ranges(*bounds, batch_size) if bounds else []
    totals = {"week": week_label(week_start), "recipients": 0, "queued": 0, "skipped_already_sent": 0,
              "batches": 0}
    if not ranges:
        return totals
    repository.stage_top_posts(conn, start=week_start, end=week_end, top_n=top_n)
    conn.commit()
    try:
        steps = _batches(conn, ranges, week_start, week_end, active_since, top_n, unsubscribe)
        return run_batches(steps, budget, result=totals, total=len(ranges))
    finally:
        if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            repository.drop_staged_top_posts(conn)
            conn.commit()


def _batches(conn: psycopg.Connection, ranges: list[tuple[int, int]], week_start: datetime, week_end: datetime,
             active_since: datetime, top_n: int, unsubscribe: UnsubscribeLinks | None) -> Iterator[dict]:
    for lo, hi in ranges:
        rows = repository.top_posts_by_recipient(conn, lo, hi, start=week_start, end=week_end,
                                                 active_since=active_since, top_n=top_n)
        # Rendering is most of a batch's cost: a rerun renders only what is not queued yet.
        done = existing_keys(conn, [dedupe_key(row["user_id"], week_start) for row in rows])
        queued = enqueue(conn, (_message(row, week_start, week_end, unsubscribe) for row in rows
                                if dedupe_key(row["user_id"], week_start) not in done))
        conn.commit()
        yield {"recipients": len(rows), "queued": queued, "skipped_already_sent": len(rows) - queued, "batches": 1}
