"""
# social_generate_content_analytics

Daily at 04:00: for the whole calendar day before the run (the day the data interval starts
in, midnight to midnight in the social time zone: 23 or 25 hours on DST days, not the
04:00-to-04:00 interval), counts new posts, comments, likes and users, the active users
(distinct users who posted, commented or liked) and the top 10 posts by the likes + comments
they received that day, in one statement, and upserts them as that day's row of
`social.daily_content_analytics`.

- **Owner:** social
- **Reads:** `social.posts`, `social.comments`, `social.likes`, `social.users`
- **Writes:** `social.daily_content_analytics` (one row per day)
- **Triage:** safe to clear and re-run: the row is an upsert keyed by the day, rewritten only
  when a number differs.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 4 * * *"


@dag(schedule=interval_timetable("social", CRON),
     **dag_settings("social", queue="analytics", cron=CRON, execution_timeout=timedelta(minutes=15)),
     doc_md=__doc__)
def social_generate_content_analytics():
    @task
    def compute_daily_analytics() -> dict:
        from include.common.db import connect
        from include.orchestration import connections
        from include.orchestration.schedules import local_days
        from include.social.content_analytics import generate_content_analytics

        days = local_days("social")
        with connect(connections.app_db("social")) as conn:
            return generate_content_analytics(conn, days.first, *days.bounds(days.first))

    compute_daily_analytics()


social_generate_content_analytics()
