"""
# fitness_update_leaderboards

Every 3 hours at minute 0 (fitness time zone): recomputes the leaderboards
(`fitness.leaderboards`, their entries in `fitness.leaderboard_entries`). The score is **workout minutes** (sum of
`duration_minutes`) of the workouts started before the data interval's end:

- `global` / `<ISO week>` (e.g. `2026-W49`): the ISO week (Monday to Monday, local
  midnights) that holds the interval end's local date (`local_days("fitness").last`, so the
  run at Monday 00:00 closes the week before);
- `global` / `all-time`: every workout;
- `challenge:<id>` / `<start_date>/<end_date>`: every challenge running on that date; its
  participants' minutes from the challenge's first midnight to the midnight after its last
  day, every participant on the board (0 before a first workout), the score also written to
  `fitness.challenge_participants.score`.

Only active users are ranked; ranks are 1..n by score, ties by the lower user id. One
set-based statement per board (aggregate, `row_number()` window, merge) writes only the
entries whose rank or score changed and deletes the entries of users no longer on the board;
each board is committed on its own. Each board's entries are a partition of their own,
which the board's first run builds (filled, then indexed) and later runs merge into.
Result `{week, boards, challenges, entries, inserted, updated, deleted,
participant_scores_updated, board_entries, batches}`.

- **Owner:** fitness
- **Reads:** `fitness.workouts`, `fitness.user_workout_totals` (the all-time board: each
  user's totals, kept by triggers on the workouts, less the workouts started at or after the
  interval end), `fitness.users`, `fitness.challenges`, `fitness.challenge_participants`
  (connection `fitness_db`)
- **Writes:** `fitness.leaderboards`, `fitness.leaderboard_entries` (and a new board's
  partition: DDL, so `fitness_db`'s role owns the fitness tables),
  `fitness.challenge_participants.score`
- **Triage:** safe to clear, re-run or backfill: every board is recomputed from the workouts
  as of the interval end, and unchanged entries are not written, so a rerun writes nothing.
  A run stopped by the soft limit committed its finished boards; the retry redoes the rest.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 */3 * * *"


@dag(schedule=interval_timetable("fitness", CRON),
     **dag_settings("fitness", queue="analytics", cron=CRON, execution_timeout=timedelta(minutes=30)),
     doc_md=__doc__)
def fitness_update_leaderboards():
    @task
    def rank_leaderboards() -> dict:
        from include.common.db import connect
        from include.fitness.leaderboards import update_leaderboards
        from include.orchestration import connections
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import local_days

        days = local_days("fitness")
        with soft_limit() as budget, connect(connections.app_db("fitness")) as conn:
            return update_leaderboards(conn, days.end, days.last, days.midnight, budget=budget)

    rank_leaderboards()


fitness_update_leaderboards()
