"""The global and per-challenge leaderboards (seed 004's `update_leaderboards`).

Boards (`fitness.leaderboards`: board, period; their entries are the rows of
`fitness.leaderboard_entries`, keyed by (leaderboard_id, user_id), one partition per board):
- `global` / `<ISO week>` (e.g. `2026-W49`): workout minutes of the ISO week that holds
  `day` (the local date of the run's interval end), Monday midnight to Monday midnight in the
  fitness time zone, counting workouts started before the interval end;
- `global` / `all-time`: workout minutes of every workout started before the interval end;
- `challenge:<id>` / `<start_date>/<end_date>`: for each challenge running on `day`, the
  workout minutes its participants started between the challenge's first midnight and the
  midnight after its last day (and before the interval end); every participant is on it
  (0 before their first workout) and the score is also written to
  `challenge_participants.score`.

Only active users (`is_active`) are ranked. Scores are minutes; ranks are 1..n by score,
ties by the lower user id, so every rerun ranks the same. Each board is one statement: the
scores aggregated and ranked with a window function, merged into the entries writing only
those whose rank or score changed and deleting the entries of users no longer on the board.
The all-time board reads each user's totals over all workouts (`fitness.user_workout_totals`,
kept by the workouts' triggers, migration 0010) less the workouts started at or after the
interval end, one row per user instead of every workout; the week's and the challenges'
boards aggregate their time range of the workouts. A board's first run builds its partition
(filled, then indexed: repository/leaderboards.py), later ones merge into it.
Everything is taken at the interval end, never `now()`: a rerun of the same interval writes
nothing, a backfill recomputes that interval's boards. Each board is committed on its own
(a step of `run_batches`), under an advisory lock that serialises concurrent runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta

import psycopg

from include.common.time_budget import TimeBudget, run_batches
from include.fitness.repository import leaderboards as repository

ALL_TIME = "all-time"


def week_label(day: date) -> str:
    """The ISO year-week of `day`, e.g. "2026-W49"."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def challenge_period(start_date: date, end_date: date) -> str:
    return f"{start_date.isoformat()}/{end_date.isoformat()}"


def update_leaderboards(conn: psycopg.Connection, interval_end: datetime, day: date,
                        midnight: Callable[[date], datetime], *, budget: TimeBudget | None = None) -> dict:
    """Recompute this week's and the all-time global boards and the board of every challenge
    running on `day`; `midnight(d)` is the first instant of local date `d` (LocalDays.midnight).

    Returns {"week", "boards", "challenges", "entries", "inserted", "updated", "deleted",
    "participant_scores_updated", "board_entries": {"<board>/<period>": entries}, "batches"}.
    When `budget` runs out the boards done stay committed and SoftTimeLimitExceeded is raised."""
    if interval_end.tzinfo is None:
        raise ValueError(f"interval_end must be time-zone aware, got {interval_end!r}")
    monday = day - timedelta(days=day.weekday())
    week_start, week_end = midnight(monday), midnight(monday + timedelta(days=7))
    if not week_start < interval_end:
        raise ValueError(f"the week of {day} starts at {week_start}, not before the interval end {interval_end}")
    label = week_label(day)
    challenges = repository.active_challenges(conn, day)
    conn.commit()
    result = {"week": label, "boards": 0, "challenges": len(challenges), "entries": 0, "inserted": 0, "updated": 0,
              "deleted": 0, "participant_scores_updated": 0, "board_entries": {}, "batches": 0}
    steps = _boards(conn, interval_end, label, week_start, min(week_end, interval_end), challenges, midnight)
    return run_batches(steps, budget, result=result, total=2 + len(challenges))


def _boards(conn: psycopg.Connection, interval_end: datetime, label: str, week_start: datetime,
            week_until: datetime, challenges: list[tuple[int, date, date]],
            midnight: Callable[[date], datetime]) -> Iterator[dict]:
    for period, start in ((label, week_start), (ALL_TIME, None)):
        repository.lock(conn)
        counts = repository.refresh_global_board(conn, period, start, week_until if start else interval_end,
                                                 at=interval_end)
        conn.commit()
        yield _step(f"global/{period}", counts)
    for challenge_id, start_date, end_date in challenges:
        start = midnight(start_date)
        until = min(midnight(end_date + timedelta(days=1)), interval_end)
        period = challenge_period(start_date, end_date)
        repository.lock(conn)
        counts = repository.refresh_challenge_board(conn, challenge_id, period, start, until, at=interval_end)
        conn.commit()
        yield _step(f"challenge:{challenge_id}/{period}", counts)


def _step(name: str, counts: dict[str, int]) -> dict:
    return {**counts, "boards": 1, "batches": 1, "board_entries": {name: counts["entries"]}}
