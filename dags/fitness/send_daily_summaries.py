"""
# fitness_send_daily_summaries

Daily at 06:00 (fitness time zone): every user with activity yesterday — the whole local
calendar day the data interval starts in, midnight to midnight (23 or 25 hours on DST days),
not the 06:00-to-06:00 interval — gets a push on each active device with that day's
workouts, minutes and calories (template `fitness/daily_summary`, FCM `data` values as
strings). Users who opted out of pushes (`push_opt_out`), inactive users, users without an
active device and users without a workout that day get none. Recipients are computed in
key-range batches of user ids (one statement per batch) and queued in the outbox with dedupe
key `daily:<user_id>:<day>:<device_id>`, then delivered; a token FCM reports unregistered
deactivates its device (include/fitness/devices.py).

- **Owner:** fitness
- **Reads:** `fitness.users`, `fitness.devices`, `fitness.workouts` (connection
  `fitness_db`); variable `fitness_push_batch_size` (default 5000)
- **Writes:** `platform.outbox` (then delivers it through `fcm_api`); `fitness.devices`
  (`is_active`, `deactivated_reason` of unregistered tokens)
- **Triage:** safe to clear, re-run or backfill: each device's summary of a day has one
  outbox key, so nothing is sent twice. FCM throttling (429/503) leaves the rest pending
  with Retry-After honoured; the sweeper `platform_deliver_notifications` sends them.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.notify import deliver_notifications
from include.orchestration.schedules import interval_timetable

CRON = "0 6 * * *"


@dag(schedule=interval_timetable("fitness", CRON),
     **dag_settings("fitness", queue="emails", cron=CRON, execution_timeout=timedelta(minutes=30)), doc_md=__doc__)
def fitness_send_daily_summaries():
    @task
    def queue_summaries() -> dict:
        from include.common.db import connect
        from include.fitness import daily_summaries
        from include.orchestration import connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import local_days

        days = local_days("fitness")
        day = days.first  # [D-1 06:00, D 06:00) starts on D-1: yesterday
        start, end = days.bounds(day)
        batch_size = variables.get_int("fitness_push_batch_size", 5000, minimum=1, maximum=100_000)
        with soft_limit() as budget, connect(connections.outbox_db("fitness")) as conn:
            return daily_summaries.queue_daily_summaries(conn, day, start, end, batch_size=batch_size, budget=budget)

    deliver_notifications(upstream=queue_summaries())


fitness_send_daily_summaries()
