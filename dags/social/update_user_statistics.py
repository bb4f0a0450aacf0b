"""
# social_update_user_statistics

Daily at 03:00: keeps `followers_count`, `following_count` and `posts_count` of every user
equal to `social.follows` and `social.posts`, set-based, writing only the users whose counters
differ (users without follows or posts get 0).
The first run (or Param `full`) recounts everyone: one UPDATE per key range of 20k user ids,
each committed. After that, triggers on users, follows and posts mark the users a change
touched (`social.stats_dirty_users`), and a run recounts only those, 20k per statement,
draining their marks in the same statement. Result `{users_scanned, users_updated, batches}`
(`users_scanned`: users recounted). A soft time limit (27 min of the 30 min timeout) stops it
between batches and fails the try with "soft time limit: ...".

- **Owner:** social
- **Reads:** connection `social_db` (`social.users`, `social.follows`, `social.posts`)
- **Writes:** `social.users` (the three counters only)
- **Triage:** safe to clear and re-run: the counters are recomputed from the source tables
  and unchanged rows are not written, so a rerun updates nothing unless the data moved. A
  counter changed behind the triggers' back (a manual UPDATE) is repaired by a run with
  `--conf '{"full": true}'`.
"""

from datetime import timedelta

from airflow.sdk import Param, dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 3 * * *"


@dag(schedule=interval_timetable("social", CRON),
     **dag_settings("social", queue="analytics", cron=CRON, execution_timeout=timedelta(minutes=30)),
     params={"full": Param(False, type="boolean", description="Recount every user, not only the marked ones")},
     doc_md=__doc__)
def social_update_user_statistics():
    @task
    def update_counters() -> dict:
        from airflow.sdk import get_current_context

        from include.common.db import connect
        from include.orchestration import connections
        from include.orchestration.budget import soft_limit
        from include.social.user_statistics import update_user_statistics

        with soft_limit() as budget, connect(connections.app_db("social")) as conn:
            return update_user_statistics(conn, full=get_current_context()["params"]["full"], budget=budget)

    update_counters()


social_update_user_statistics()
