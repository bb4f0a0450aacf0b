"""
# fitness_send_inactive_user_reminders

Daily at 10:00 (fitness time zone): users with no workout in the 7 days before the run — no
workout started from midnight of D-7 up to the run (the data interval's end), D being the
run's local day — get a reminder push on each active device (template
`fitness/inactive_reminder`; users who never worked out get a different text). Never two
reminders to a user within 7 days, across reruns, retries and backfills run in any order:
`fitness.reminder_log` gets (user, D) only when it has no entry within 6 days either side of
D, in the transaction that queues the pushes (dedupe key `reminder:<user_id>:<D>:<device_id>`).
Opted-out (`push_opt_out`) and inactive users and users without an active device get none.

- **Owner:** fitness
- **Reads:** `fitness.users`, `fitness.devices`, `fitness.workouts`, `fitness.reminder_log`
  (connection `fitness_db`); variable `fitness_push_batch_size` (default 5000)
- **Writes:** `fitness.reminder_log`, `platform.outbox` (then delivers it through
  `fcm_api`); `fitness.devices` (`is_active`, `deactivated_reason` of unregistered tokens)
- **Triage:** safe to clear, re-run or backfill: a logged reminder is never repeated within
  7 days and its pushes were queued with it. To remind a user again on purpose, delete their
  `reminder_log` row and the outbox rows `reminder:<user_id>:<D>:%`.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.notify import deliver_notifications
from include.orchestration.schedules import interval_timetable

CRON = "0 10 * * *"


@dag(schedule=interval_timetable("fitness", CRON),
     **dag_settings("fitness", queue="emails", cron=CRON, execution_timeout=timedelta(minutes=30)), doc_md=__doc__)
def fitness_send_inactive_user_reminders():
    @task
    def queue_reminders() -> dict:
        from include.common.db import connect
        from include.fitness import inactive_reminders
        from include.orchestration import connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import local_days

        days = local_days("fitness")
        day = days.last  # [D-1 10:00, D 10:00): the run's day is D
        since = days.midnight(day - timedelta(days=inactive_reminders.INACTIVE_DAYS))
        batch_size = variables.get_int("fitness_push_batch_size", 5000, minimum=1, maximum=100_000)
        with soft_limit() as budget, connect(connections.outbox_db("fitness")) as conn:
            return inactive_reminders.queue_inactive_reminders(conn, day, since, days.end, batch_size=batch_size,
                                                               budget=budget)

    deliver_notifications(upstream=queue_reminders())


fitness_send_inactive_user_reminders()
