"""
# social_cleanup_expired_tokens

Daily at 02:00: deletes the auth tokens and sessions that expired before the data interval's
end, then the tokens and sessions of users inactive for 30+ days (last activity before
`interval end - social_inactive_days`, or no activity and signed up before that). Deletes go
in bounded batches of 10k ids, each committed; the result counts
`{expired_tokens, expired_sessions, inactive_tokens, inactive_sessions, batches}`.
A soft time limit (27 min of the 30 min timeout) stops it between batches and fails the
try with "soft time limit: N batches done, rerun continues", the counts so far as its result.

- **Owner:** social
- **Reads:** connection `social_db` (`social.users`, `social.auth_tokens`, `social.sessions`);
  variable `social_inactive_days` (default 30)
- **Writes:** deletes from `social.auth_tokens` and `social.sessions`
- **Triage:** safe to clear and re-run: deleting what is already gone does nothing, and a
  run stopped by the soft limit kept its finished batches, so the retry continues.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 2 * * *"


@dag(schedule=interval_timetable("social", CRON),
     **dag_settings("social", queue="maintenance", cron=CRON, execution_timeout=timedelta(minutes=30)),
     doc_md=__doc__)
def social_cleanup_expired_tokens():
    @task
    def delete_expired_tokens() -> dict:
        from include.common.db import connect
        from include.orchestration import connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import current_interval
        from include.social.tokens import cleanup_expired_tokens

        inactive_days = variables.get_int("social_inactive_days", 30, minimum=1, maximum=3650)
        _, data_interval_end = current_interval()
        with soft_limit() as budget, connect(connections.app_db("social")) as conn:
            return cleanup_expired_tokens(conn, data_interval_end, inactive_days=inactive_days, budget=budget)

    delete_expired_tokens()


social_cleanup_expired_tokens()
