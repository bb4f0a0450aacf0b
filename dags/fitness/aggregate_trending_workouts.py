"""
# fitness_aggregate_trending_workouts

Daily at 01:00 (fitness time zone): for the run's day D (the local day the data interval
starts in: the day before the run), counts the uses of every workout type (workouts started)
and every exercise (workouts it is in) in the 7 local days D-6..D and in the 7 days before
(D-13..D-7), growth = (uses - previous) / previous (NULL when previous is 0), and writes the
top N by uses (ties: higher growth, then workout type / exercise id) as D's rows of
`fitness.trending_workouts` and `fitness.trending_exercises`. N is the variable
`fitness_trending_top_n` (default 10). D's rows are merged in one transaction: only changed
rows written, rows that dropped out deleted. Result `{day, workouts: {scored, ranked,
written, deleted}, exercises: {...}}`.

- **Owner:** fitness
- **Reads:** `fitness.workout_type_hourly`, `fitness.exercise_hourly` (hourly rollups kept
  by triggers on the workouts and their exercises) for the whole hours of the windows, and
  `fitness.workouts`, `fitness.workout_exercises` for the partial hours at their edges
  (connection `fitness_db`); variable `fitness_trending_top_n`
- **Writes:** `fitness.trending_workouts`, `fitness.trending_exercises` (day D's rows only)
- **Triage:** safe to clear, re-run or backfill: a day's rows are recomputed from the
  workouts and replaced in one transaction; other days are untouched.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 1 * * *"


@dag(schedule=interval_timetable("fitness", CRON),
     **dag_settings("fitness", queue="analytics", cron=CRON, execution_timeout=timedelta(minutes=15)),
     doc_md=__doc__)
def fitness_aggregate_trending_workouts():
    @task
    def rank_trending() -> dict:
        from include.common.db import connect
        from include.fitness.trending import aggregate_trending
        from include.orchestration import connections, variables
        from include.orchestration.schedules import local_days

        days = local_days("fitness")
        day = days.first  # [D 01:00, D+1 01:00) starts on D: the day before the run
        top_n = variables.get_int("fitness_trending_top_n", 10, minimum=1, maximum=1000)
        with connect(connections.app_db("fitness")) as conn:
            return aggregate_trending(conn, day, previous_start=days.midnight(day - timedelta(days=13)),
                                      start=days.midnight(day - timedelta(days=6)),
                                      end=days.midnight(day + timedelta(days=1)), top_n=top_n)

    rank_trending()


fitness_aggregate_trending_workouts()
