"""
# social_update_user_statistics

Daily at 03:00: recomputes `followers_count`, `following_count` and `posts_count` of every
user from `social.follows` and `social.posts`, set-based: one UPDATE per key range of 20k
user ids, each committed, writing only the users whose counters differ (users without follows
or posts get 0). Result `{users_scanned, users_updated, batches}`. A soft time limit (25 min
of the 30 min timeout) stops it between ranges and fails the try with "soft time limit: ...".

- **Owner:** social
- **Reads:** connection `social_db` (`social.users`, `social.follows`, `social.posts`)
- **Writes:** `social.users` (the three counters only)
- **Triage:** safe to clear and re-run: the counters are recomputed from the source tables
  and unchanged rows are not written, so a rerun updates nothing unless the data moved.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 3 * * *"
TIMEOUT = timedelta(minutes=30)
SOFT_LIMIT = timedelta(minutes=25)


@dag(schedule=interval_timetable("social", CRON),
     **dag_settings("social", queue="analytics", cron=CRON, execution_timeout=TIMEOUT), doc_md=__doc__)
def social_update_user_statistics():
    @task
    def update_counters() -> dict:
        from include.common.db import connect
        from include.common.time_budget import TimeBudget
        from include.orchestration import connections
        from include.social.user_statistics import update_user_statistics

        budget = TimeBudget(SOFT_LIMIT.total_seconds())
        with connect(connections.app_db("social")) as conn:
            return update_user_statistics(conn, should_continue=lambda: not budget.exhausted(margin=60))

    update_counters()


social_update_user_statistics()
