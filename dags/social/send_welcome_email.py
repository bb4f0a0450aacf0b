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

from airflow.sdk import Param, dag, task

from include.orchestration.defaults import dag_settings


@dag(schedule=None,
     **dag_settings("social", queue="emails", cron=None, execution_timeout=timedelta(minutes=5)),
     params={"user_id": Param(type="integer", minimum=1,
                              description="id of the user in social.users to welcome")},
     doc_md=__doc__)
def social_send_welcome_email():
    @task
    def enqueue_welcome() -> dict:
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException

        from include.common.db import connect
        from include.orchestration import connections
        from include.social import welcome

        user_id = get_current_context()["params"]["user_id"]
        try:
            with connect(connections.outbox_db("social")) as conn:
                return welcome.queue_welcome(conn, user_id)
        except welcome.UnknownUser as exc:
            raise AirflowFailException(str(exc)) from exc  # a bad id: retrying cannot help

    @task
    def deliver_welcome(receipt: dict) -> dict:
        """Send it now rather than at the next outbox sweep."""
        from include.orchestration.notify import deliver_outbox

        return deliver_outbox(soft_limit_seconds=120)

    deliver_welcome(enqueue_welcome())


social_send_welcome_email()
