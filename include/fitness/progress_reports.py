"""The weekly progress report email (seed 004's `send_weekly_progress_reports`).

Rules (taken at the dates given, never at `now()`):
- the week is the 7 local days before the run's day, [midnight(D-7), midnight(D)) for a run
  on day D (a Monday: the ISO week Monday..Sunday before it); `previous` is the 7 days
  before that; a workout belongs to the local day it started in;
- a recipient is an active user (`is_active`) who has not opted out of emails
  (`email_opt_out`) and has at least one workout in the week; nobody else gets one;
- the report: workouts, minutes and calories of the week, each vs the previous week
  (absolute and %), the streak (consecutive days with a workout ending on the week's last
  day, counted back over the chart's 8 weeks), the week's best exercise (most sets, then
  most reps, then name; with its heaviest weight), and a chart of the minutes of the last 8
  weeks (a PNG inline part; the numbers are in the text part too);
- once per user per week: dedupe key `fitness-progress:<user_id>:<ISO week of the week's
  Monday>`, so a rerun or backfill of the week queues nothing new.

Set-based: recipients in key ranges of user ids, one statement per range, queued in that
range's transaction and committed range by range (`run_batches`: a soft-limit stop keeps the
finished ranges, a rerun continues).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from itertools import pairwise

import psycopg

from include.common.charts import bar_chart_png
from include.common.email import inline_png
from include.common.outbox import OutboxMessage, enqueue, existing_keys
from include.common.time_budget import TimeBudget, run_batches
from include.common.unsubscribe import UnsubscribeLinks
from include.fitness.repository import progress_reports as repository

TEMPLATE = "fitness/progress_report"
LIST_ID = "progress_report"  # the one-click unsubscribe list (include/common/unsubscribe.py)
CHART_WEEKS = 8
CHART_DAYS = 7 * CHART_WEEKS


def week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def dedupe_key(user_id: int, monday: date) -> str:
    return f"fitness-progress:{user_id}:{week_label(monday)}"


def key_ranges(lowest: int, highest: int, size: int) -> list[tuple[int, int]]:
    """Half-open ranges [lo, hi) of `size` ids covering lowest..highest."""
    return [(lo, min(lo + size, highest + 1)) for lo in range(lowest, highest + 1, size)]


def fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def change(now: int, before: int) -> str:
    """"+30 (+50%)", "-5 (-10%)", "±0 (0%)", or "+30 (none the week before)"."""
    diff = now - before
    sign = "+" if diff > 0 else ("-" if diff < 0 else "±")
    absolute = f"{sign}{fmt_int(abs(diff))}"
    if before == 0:
        return f"{absolute} (none the week before)" if now else absolute
    return f"{absolute} ({sign if diff else ''}{abs(diff) * 100 / before:.0f}%)"


def summarize(days: list[list[int]]) -> dict:
    """Per-week totals and the streak from the rows' [day_index, workouts, minutes, calories]
    (day_index 1..CHART_DAYS, the last week is 50..56)."""
    per_day = {int(d): (int(n), int(m), int(c)) for d, n, m, c in days}
    weeks = []
    for week in range(CHART_WEEKS):
        cells = [per_day.get(week * 7 + i, (0, 0, 0)) for i in range(1, 8)]
        weeks.append(tuple(sum(cell[k] for cell in cells) for k in range(3)))
    streak = 0
    while streak < CHART_DAYS and per_day.get(CHART_DAYS - streak, (0,))[0] > 0:
        streak += 1
    return {"weeks": weeks, "streak": streak}


def report_message(row: dict, monday: date, unsubscribe: UnsubscribeLinks | None = None) -> OutboxMessage:
    """The email of one recipient for the week starting `monday`, with `unsubscribe` their
    one-click unsubscribe link (list `progress_report`)."""
    facts = summarize(row["days"])
    (workouts, minutes, calories), before = facts["weeks"][-1], facts["weeks"][-2]
    last_day = monday + timedelta(days=6)
    chart_first = monday - timedelta(days=7 * (CHART_WEEKS - 1))
    weekly_minutes = [week[1] for week in facts["weeks"]]
    title = f"Workout minutes per week, {chart_first} to {last_day}"
    chart = inline_png("minutes-8w", bar_chart_png(weekly_minutes, chart_first, title=title, unit="min",
                                                   period_days=7))
    best = None
    if row["best_exercise"] is not None:
        weight = row["best_max_weight_kg"]
        best = {"name": row["best_exercise"], "sets": int(row["best_sets"]), "reps": int(row["best_reps"]),
                "max_weight_kg": None if weight is None else f"{weight:g}"}
    context = {
        "name": row["name"].strip() or row["email"].split("@")[0],
        "week": week_label(monday),
        "week_start": monday.isoformat(),
        "week_end": last_day.isoformat(),
        "workouts": fmt_int(workouts), "minutes": fmt_int(minutes), "calories": fmt_int(calories),
        "workouts_change": change(workouts, before[0]), "minutes_change": change(minutes, before[1]),
        "calories_change": change(calories, before[2]),
        "streak_days": facts["streak"],
        "best_exercise": best,
        "chart_cid": chart.cid,
        "chart_alt": f"{title}: max {fmt_int(max(weekly_minutes))} min/week",
        "chart_weeks": [{"week": week_label(chart_first + timedelta(days=7 * i)),
                         "first_day": (chart_first + timedelta(days=7 * i)).isoformat(),
                         "minutes": fmt_int(m)} for i, m in enumerate(weekly_minutes)],
    }
    return OutboxMessage(dedupe_key(row["user_id"], monday), "email", "fitness", row["email"], TEMPLATE, context,
                         images=(chart,),
                         unsubscribe_url=unsubscribe.url(LIST_ID, row["user_id"]) if unsubscribe else None)


def queue_progress_reports(conn: psycopg.Connection, day_bounds: list[datetime], *, batch_size: int = 2000,
                           budget: TimeBudget | None = None, unsubscribe: UnsubscribeLinks | None = None) -> dict:
    """Queue the reports of the week that ends at `day_bounds[-1]`, committing each batch;
    with `unsubscribe` (the DAG always passes it) each carries its one-click unsubscribe link.

    `day_bounds` are the CHART_DAYS + 1 local midnights of the chart's 8 weeks, the first
    the Monday 7 weeks before the week's Monday, the last the midnight after the week's
    Sunday (LocalDays.midnight of each date: DST-safe). Returns {"week", "recipients",
    "queued", "skipped_already_sent", "batches"}; raises SoftTimeLimitExceeded (finished
    batches committed) when `budget` runs out with batches left."""
    if len(day_bounds) != CHART_DAYS + 1:
        raise ValueError(f"day_bounds needs {CHART_DAYS + 1} midnights, got {len(day_bounds)}")
    if any(b.tzinfo is None for b in day_bounds) or any(a >= b for a, b in pairwise(day_bounds)):
        raise ValueError("day_bounds must be increasing, time-zone aware datetimes")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    week_start = day_bounds[-8]
    monday = week_start.date()
    if monday.weekday() != 0:
        raise ValueError(f"the report's week must start on a Monday, got {monday} ({monday:%A})")
    bounds = repository.recipient_id_bounds(conn)
    conn.commit()
    ranges = key_ranges(*bounds, batch_size) if bounds else []
    totals = {"week": week_label(monday), "recipients": 0, "queued": 0, "skipped_already_sent": 0, "batches": 0}
    return run_batches(_batches(conn, ranges, day_bounds, week_start, monday, unsubscribe), budget, result=totals,
                       total=len(ranges))


def _batches(conn: psycopg.Connection, ranges: list[tuple[int, int]], day_bounds: list[datetime],
             week_start: datetime, monday: date, unsubscribe: UnsubscribeLinks | None) -> Iterator[dict]:
    for lo, hi in ranges:
        rows = repository.report_rows(conn, lo, hi, day_bounds=day_bounds, week_start=week_start)
        # Drawing the chart is most of a batch's cost: a rerun draws only what is not queued yet.
        done = existing_keys(conn, [dedupe_key(row["user_id"], monday) for row in rows])
        queued = enqueue(conn, (report_message(row, monday, unsubscribe) for row in rows
                                if dedupe_key(row["user_id"], monday) not in done))
        conn.commit()
        yield {"recipients": len(rows), "queued": queued, "skipped_already_sent": len(rows) - queued, "batches": 1}
