"""
# fitness_send_weekly_progress_reports

Weekly, Monday 08:00 (fitness time zone): for the 7 local days before the run's day (the
Monday the data interval ends on: the ISO week Monday..Sunday before it), every active user
who has not opted out of emails (`email_opt_out`) and worked out that week gets ONE email:
workouts, minutes and calories vs the week before (absolute and %), their streak
(consecutive days with a workout ending on the Sunday), their best exercise of the week
(most sets, then reps), and a chart of their workout minutes over the last 8 weeks (an
inline PNG; the numbers also in the text part). Recipients are computed in key-range
batches of user ids (one statement per batch; variable `fitness_report_batch_size`, default
2000) and queued in the outbox with dedupe key `fitness-progress:<user_id>:<ISO week>`, then
delivered.

- **Owner:** fitness
- **Reads:** `fitness.users`, `fitness.workouts`, `fitness.workout_exercises`,
  `fitness.exercises` (connection `fitness_db`); variable `fitness_report_batch_size`;
  one-click unsubscribe links (RFC 8058) signed with the connection `unsubscribe_signing`,
  base URL from the variable `unsubscribe_base_urls`
- **Writes:** `platform.outbox` (then delivers it, as `platform_deliver_notifications` does)
- **Triage:** safe to clear, re-run or backfill: each user's report of a week has one
  outbox key, so nothing is sent twice. A run stopped by its soft time limit committed its
  finished batches; the retry redoes the rest. SMTP down: the messages stay pending and the
  sweeper sends them.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.notify import deliver_notifications
from include.orchestration.schedules import interval_timetable

CRON = "0 8 * * 1"


@dag(schedule=interval_timetable("fitness", CRON),
     **dag_settings("fitness", queue="emails", cron=CRON, execution_timeout=timedelta(hours=1)), doc_md=__doc__)
def fitness_send_weekly_progress_reports():
    @task
    def queue_progress_reports() -> dict:
        from include.common.db import connect
        from include.fitness import progress_reports
        from include.orchestration import connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import local_days
        from include.orchestration.unsubscribe import unsubscribe_links

        days = local_days("fitness")
        run_day = days.last  # the Monday the interval ends on
        first = run_day - timedelta(days=progress_reports.CHART_DAYS)
        day_bounds = [days.midnight(first + timedelta(days=i)) for i in range(progress_reports.CHART_DAYS + 1)]
        batch_size = variables.get_int("fitness_report_batch_size", 2000, minimum=1, maximum=50_000)
        links = unsubscribe_links("fitness")
        with soft_limit() as budget, connect(connections.outbox_db("fitness")) as conn:
            return progress_reports.queue_progress_reports(conn, day_bounds, batch_size=batch_size, budget=budget,
                                                           unsubscribe=links)

    deliver_notifications(upstream=queue_progress_reports())


fitness_send_weekly_progress_reports()
