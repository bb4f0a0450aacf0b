"""
# platform_deliver_notifications

Every 5 minutes: the sweeper of the notification outbox. Sends every due message of
`platform.outbox` (emails through `smtp_default`, pushes through FCM HTTP v1 `fcm_api`):
messages left pending because SMTP or FCM was down when their job ran, retries whose
backoff is over, and messages whose deliverer died mid-send (lease expired). A message that
fails `max_attempts` (5) times, or that the receiver refuses for good (FCM `UNREGISTERED`),
goes dead, and the platform owners get one `outbox_dead` email about it, except refusals the
message's domain handles (a fitness push to an unregistered token deactivates that device:
include/orchestration/notify.py `REFUSAL_HANDLERS`).

- **Owner:** platform
- **Reads:** `platform.outbox`; connections `platform_db`, `smtp_default`, `fcm_api`
  (optional: without it pushes wait and say why); variables `platform_alert_emails`,
  `platform_outbox_connections` (4), `platform_outbox_processes` (2),
  `platform_outbox_processes_from` (5000): include/orchestration/notify.py `delivery_settings`
- **Speed:** up to 4 SMTP sessions and 4 FCM keep-alive connections at once per process,
  and a helper process when 5,000+ messages are due (bench/common_outbox.py,
  bench/fitness_push.py give the rates). Messages held back because SMTP or FCM could not
  be reached go out on the first run after it answers again, not after their backoff.
- **Writes:** `platform.outbox` (status, attempts, errors; the dead-message alert);
  emails and pushes to their recipients; the domains' refusal handlers' tables
  (`fitness.devices`: `is_active`, `deactivated_reason` of unregistered tokens)
- **Triage:** safe to clear and re-run at any time: a message marked sent is never sent
  again; a crash between a send and its record can repeat at most the one message in
  flight on each connection: connections x processes, 8 with the defaults
  (see include/common/delivery.py). A run that hits its soft time limit (3 min) fails saying
  how many are still due; the retry or the next run continues. Dead messages: read
  `last_error`, fix the cause, set them back to `pending` with `attempts = 0`.
"""

from datetime import timedelta

from airflow.sdk import dag

from include.orchestration.defaults import dag_settings
from include.orchestration.notify import deliver_notifications
from include.orchestration.schedules import interval_timetable

CRON = "*/5 * * * *"


# The 4 min hard limit leaves its soft limit (3 min) room for one slow message and the records.
@dag(schedule=interval_timetable("platform", CRON),
     **dag_settings("platform", queue="emails", cron=CRON, execution_timeout=timedelta(minutes=4)), doc_md=__doc__)
def platform_deliver_notifications():
    deliver_notifications()


platform_deliver_notifications()
