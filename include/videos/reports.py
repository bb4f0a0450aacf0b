"""The daily AI reports: for day D, one report per tracked video (status 'success',
published by the end of D) with its facts and a narrative, and one email per creator.

Which day: the DAG runs at 18:00; D is the day its data interval starts in (the videos time
zone: `LocalDays.first` of include/orchestration/schedules.py), i.e. the last day complete at
run time. Today is still running at 18:00, so its views would always look like a drop
against yesterday. The caller passes D and the instant it ends (local midnight after D).

Per batch of creators (a key range of creator ids):
1. the facts of all their videos in one statement (include/videos/repository/reports.py),
   the read transaction closed before any LLM call;
2. a narrative per video: the LLM's (chat completions, at most `len(chat_clients)` calls in
   flight, each thread with its own client) when every number in it is one of the facts
   (include/videos/narrative.py), else the template narrative with the reason: "invented
   numbers: 42, 17%", "llm error: ..." (the API failed after its retries), "no stats for
   the day", or the caller's reason for having no LLM ("no llm_default connection");
3. in ONE transaction: the day's reports of those creators replaced (upsert by
   (video_id, day), writing only rows that change; reports of videos no longer tracked
   deleted) and one email per creator queued in the outbox with the dedupe key
   `videos-report:<creator_id>:<D>` (a rerun or backfill of D sends nothing twice).
Batches run under `run_batches` and a TimeBudget: when the next batch would not fit, the
finished batches stay committed and SoftTimeLimitExceeded (with their counts) is raised.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Protocol

import psycopg

from include.common.charts import bar_chart_png
from include.common.email import inline_png
from include.common.http import ApiError
from include.common.outbox import OutboxMessage, enqueue
from include.common.time_budget import TimeBudget, run_batches
from include.common.unsubscribe import UnsubscribeLinks
from include.videos import narrative as words
from include.videos.llm_client import LlmAnswerError
from include.videos.repository import reports as repository

log = logging.getLogger(__name__)

TEMPLATE = "videos/daily_report"
MAX_REASON_CHARS = 500


class Chat(Protocol):
    def complete(self, messages: list[dict]) -> str: ...


@dataclass(frozen=True)
class Narrative:
    text: str
    source: str  # 'llm' | 'template'
    fallback_reason: str | None = None


def dedupe_key(creator_id: int, day: date) -> str:
    return f"videos-report:{creator_id}:{day.isoformat()}"


def key_ranges(lowest: int, highest: int, size: int) -> list[tuple[int, int]]:
    """Half-open ranges [lo, hi) of `size` ids covering lowest..highest."""
    return [(lo, min(lo + size, highest + 1)) for lo in range(lowest, highest + 1, size)]


# -- narratives ----------------------------------------------------------------------------------

def write_narrative(facts: dict, chat: Chat | None, no_llm_reason: str | None = None) -> Narrative:
    """The LLM's narrative of `facts` if it uses only their numbers, else the template's."""
    if facts.get("views") is None:  # nothing happened that we know of: no call to make
        return Narrative(words.template_narrative(facts), "template", words.TEMPLATE_REASON_NO_STATS)
    if chat is None:
        return Narrative(words.template_narrative(facts), "template", no_llm_reason or "no llm client")
    messages = words.build_messages(facts)
    try:
        text = chat.complete(messages)
    except (ApiError, LlmAnswerError) as exc:
        log.warning("llm failed for %r, using the template: %s", facts.get("title"), exc)
        return Narrative(words.template_narrative(facts), "template", f"llm error: {exc}"[:MAX_REASON_CHARS])
    invented = words.invented_numbers(text, words.prompt_text(messages))
    if invented:
        log.warning("llm invented %s for %r, using the template", invented, facts.get("title"))
        reason = f"invented numbers: {', '.join(invented)}"[:MAX_REASON_CHARS]
        return Narrative(words.template_narrative(facts), "template", reason)
    return Narrative(text, "llm")


def write_narratives(all_facts: Sequence[dict], chat_clients: Sequence[Chat],
                     no_llm_reason: str | None = None) -> list[Narrative]:
    """The narratives of `all_facts`, in order: with no clients, the template's; else with
    one worker thread per client, each borrowing a client for one call at a time."""
    if not chat_clients:
        return [write_narrative(facts, None, no_llm_reason) for facts in all_facts]
    idle: queue.Queue[Chat] = queue.Queue()
    for client in chat_clients:
        idle.put(client)

    def one(facts: dict) -> Narrative:
        client = idle.get()
        try:
            return write_narrative(facts, client)
        finally:
            idle.put(client)

    with ThreadPoolExecutor(max_workers=len(chat_clients), thread_name_prefix="llm") as pool:
        return list(pool.map(one, all_facts))


# -- emails --------------------------------------------------------------------------------------

def _daily_totals(series: Sequence[Sequence[int | None]]) -> list[int | None]:
    """Day-by-day sum over videos; None on a day none of them has stats for."""
    totals: list[int | None] = []
    for day_values in zip(*series, strict=True):
        known = [v for v in day_values if v is not None]
        totals.append(sum(known) if known else None)
    return totals


def _video_context(row: dict, story: Narrative) -> dict:
    shown = words.display(row["facts"])

    def change(absolute: str | None, pct: str | None) -> str | None:
        return None if absolute is None else (f"{absolute} ({pct})" if pct else absolute)

    return {
        "title": shown["title"],
        "platform_id": row["platform_id"],
        "views": shown["views"],
        "change_prev_day": change(shown["change_prev_day"], shown["change_prev_day_pct"]),
        "change_vs_mean_7d": change(shown["change_vs_mean_7d"], shown["change_vs_mean_7d_pct"]),
        "engagement_rate": shown["engagement_rate"],
        "forecast": (None if shown["prediction_views"] is None
                     else f"{shown['prediction_views']} ({shown['prediction_method']})"),
        "keywords": shown["keywords"],
        "narrative": story.text,
        "narrative_source": story.source,
        # A number, not a per-video sparkline: one image part per video would grow each email
        # (and outbox row) with the creator's catalogue; the 30-day chart shows the shape.
        "views_30d": words.fmt_int(sum(v for v in row["views_series"] if v is not None)),
    }


LIST_ID = "daily_report"  # the one-click unsubscribe list (include/common/unsubscribe.py)


def creator_email(rows: list[dict], stories: list[Narrative], day: date,
                  unsubscribe: UnsubscribeLinks | None = None) -> OutboxMessage | None:
    """The email of one creator's reports of `day`; None when none of the videos has stats
    for the day (nothing to tell). With `unsubscribe`, it carries the creator's one-click
    unsubscribe link (list `daily_report`)."""
    first = rows[0]
    with_stats = [(r, s) for r, s in zip(rows, stories, strict=True) if r["facts"]["views"] is not None]
    if not with_stats:
        return None
    with_stats.sort(key=lambda pair: (-pair[0]["facts"]["views"], pair[0]["video_id"]))
    chart_start = day - timedelta(days=repository.CHART_DAYS - 1)
    total = sum(r["facts"]["views"] for r, _ in with_stats)
    daily = _daily_totals([r["views_series"] for r in rows])
    title = f"Daily views of your videos, {chart_start} to {day}"
    # A PNG part, not inline SVG (Gmail and Outlook strip SVG); the numbers are in the text part too.
    chart = inline_png("views-30d", bar_chart_png(daily, chart_start, title=title))
    peak = max((v for v in daily if v is not None), default=0)
    context = {
        "creator_name": first["creator_name"],
        "day": day.isoformat(),
        "total_views": words.fmt_int(total),
        "video_count": len(with_stats),
        "without_stats": [r["facts"]["title"] for r in rows if r["facts"]["views"] is None],
        "chart_first_day": chart_start.isoformat(),
        "chart_cid": chart.cid,
        "chart_alt": f"{title}: max {words.fmt_int(peak)} views/day",
        "chart_days": [{"day": (chart_start + timedelta(days=i)).isoformat(),
                        "views": "no data" if v is None else words.fmt_int(v)} for i, v in enumerate(daily)],
        "videos": [_video_context(r, s) for r, s in with_stats],
    }
    return OutboxMessage(dedupe_key(first["creator_id"], day), "email", "videos", first["creator_email"],
                         TEMPLATE, context, images=(chart,),
                         unsubscribe_url=unsubscribe.url(LIST_ID, first["creator_id"]) if unsubscribe else None)


def creator_emails(rows: list[dict], stories: list[Narrative], day: date,
                   unsubscribe: UnsubscribeLinks | None = None) -> list[OutboxMessage]:
    """One email per creator of `rows` (ordered by creator) that had stats on `day`."""
    paired = list(zip(rows, stories, strict=True))
    messages = []
    for _, group in groupby(paired, key=lambda pair: pair[0]["creator_id"]):
        members = list(group)
        message = creator_email([r for r, _ in members], [s for _, s in members], day, unsubscribe)
        if message is not None:
            messages.append(message)
    return messages


# -- the job -------------------------------------------------------------------------------------

def generate_daily_reports(conn: psycopg.Connection, day: date, day_end: datetime, *,
                           chat_clients: Sequence[Chat] = (), no_llm_reason: str | None = None,
                           batch_size: int = 100, budget: TimeBudget | None = None,
                           unsubscribe: UnsubscribeLinks | None = None) -> dict:
    """Write the reports of `day` (which ends at the aware `day_end`: videos published before
    it are reported on) and queue the creators' emails, batch by batch of `batch_size`
    creators, each committed (see the module docstring). With `unsubscribe` (the DAG always
    passes it) each email carries its creator's one-click unsubscribe link.

    Returns {"day", "videos", "reports_written", "reports_deleted", "narratives": {source:
    count}, "fallbacks": {reason kind: count}, "emails_queued", "emails_already_queued",
    "batches"}; raises SoftTimeLimitExceeded when `budget` runs out with batches left."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if day_end.tzinfo is None:
        raise ValueError(f"day_end must be time-zone aware, got {day_end!r}")
    bounds = repository.creator_id_bounds(conn, day_end)
    conn.commit()
    ranges = key_ranges(*bounds, batch_size) if bounds else []

    def batches() -> Iterator[dict]:
        for lo, hi in ranges:
            rows = repository.video_facts(conn, lo, hi, day, day_end)
            conn.commit()  # no transaction stays open while the LLM writes
            stories = write_narratives([r["facts"] for r in rows], chat_clients, no_llm_reason)
            pairs = zip(rows, stories, strict=True)
            written, deleted = repository.replace_reports(
                conn, day, lo, hi, [(r["video_id"], r["facts"], s.text, s.source, s.fallback_reason) for r, s in pairs])
            messages = creator_emails(rows, stories, day, unsubscribe)
            queued = enqueue(conn, messages)
            conn.commit()
            yield {"videos": len(rows), "reports_written": written, "reports_deleted": deleted,
                   "emails_queued": queued, "emails_already_queued": len(messages) - queued,
                   "narratives": _tally(s.source for s in stories),
                   "fallbacks": _tally(s.fallback_reason.split(":")[0] for s in stories if s.fallback_reason),
                   "batches": 1}

    result = {"day": day.isoformat(), "videos": 0, "reports_written": 0, "reports_deleted": 0, "narratives": {},
              "fallbacks": {}, "emails_queued": 0, "emails_already_queued": 0, "batches": 0}
    return run_batches(batches(), budget, result=result, total=len(ranges))


def _tally(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts
