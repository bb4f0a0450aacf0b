"""
# fitness_send_challenge_notifications

Daily at 07:00 (fitness time zone): the participants of every challenge that starts or ends
TOMORROW — the local day after the run's day (the day the data interval ends in) — get one
push each, "starting" (templates `fitness/challenge_starting`) or "ending"
(`fitness/challenge_ending`), on each active device. Exactly once per user, challenge and
kind: dedupe key `challenge:<challenge_id>:<kind>:<user_id>:<device_id>`. Participants who
opted out of pushes, inactive users and users without an active device get none.
Participants are taken in key-range batches of user ids (one statement per batch).

- **Owner:** fitness
- **Reads:** `fitness.challenges`, `fitness.challenge_participants`, `fitness.users`,
  `fitness.devices` (connection `fitness_db`); variable `fitness_push_batch_size` (default 5000)
- **Writes:** `platform.outbox` (then delivers it through `fcm_api`); `fitness.devices`
  (`is_active`, `deactivated_reason` of unregistered tokens)
- **Triage:** safe to clear, re-run or backfill: one outbox key per device, challenge and
  kind, so nothing is sent twice. Throttled pushes stay pending (Retry-After honoured) for
  the sweeper `platform_deliver_notifications`.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.notify import deliver_notifications
from include.orchestration.schedules import interval_timetable

CRON = "0 7 * * *"


@dag(schedule=interval_timetable("fitness", CRON),
     **dag_settings("fitness", queue="emails", cron=CRON, execution_timeout=timedelta(minutes=30)), doc_md=__doc__)
def fitness_send_challenge_notifications():
    @task
    def queue_challenge_notices() -> dict:
        from include.common.db import connect
        from include.fitness import challenge_notifications
        from include.orchestration import connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import local_days

        tomorrow = local_days("fitness").last + timedelta(days=1)  # [D-1 07:00, D 07:00): the run's day is D
        batch_size = variables.get_int("fitness_push_batch_size", 5000, minimum=1, maximum=100_000)
        with soft_limit() as budget, connect(connections.outbox_db("fitness")) as conn:
            return challenge_notifications.queue_challenge_notifications(conn, tomorrow, batch_size=batch_size,
                                                                         budget=budget)

    deliver_notifications(upstream=queue_challenge_notices())


fitness_send_challenge_notifications()
