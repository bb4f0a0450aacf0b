"""
# social_send_welcome_email

Manual, with `--conf '{"user_id": 42}'`: queues the welcome email of that user in the
outbox (dedupe key `welcome:<user_id>`, template `social/welcome`) and delivers it. A second
trigger for the same user queues nothing and its result says so
(`{"queued": false, "reason": "already sent or queued on <date>"}`); an unknown user id fails
at once, naming the id, without retries.

- **Owner:** social
- **Reads:** connection `social_db` (`social.users`), `platform_db` and `smtp_default` (delivery)
- **Writes:** `platform.outbox` (then delivers it, as `platform_deliver_notifications` does)
- **Triage:** safe to clear and re-run: the outbox key `welcome:<user_id>` is unique, so a
  rerun or a second trigger never sends the email twice. An "unknown user" failure is a bad
  `user_id`: trigger again with the right one.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.notify import deliver_notifications
from include.orchestration.params import id_param


@dag(schedule=None,
     **dag_settings("social", queue="emails", cron=None, execution_timeout=timedelta(minutes=5)),
     params={"user_id": id_param("id of the user in social.users to welcome")},
     doc_md=__doc__)
def social_send_welcome_email():
    @task
    def enqueue_welcome() -> dict:
        from airflow.sdk import get_current_context

        from include.common.db import connect
        from include.orchestration import connections
        from include.social import welcome

        # An unknown id is welcome.UnknownUser, a permanent error: the task fails at once.
        with connect(connections.outbox_db("social")) as conn:
            return welcome.queue_welcome(conn, get_current_context()["params"]["user_id"])

    deliver_notifications(upstream=enqueue_welcome())


social_send_welcome_email()
