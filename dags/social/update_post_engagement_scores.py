"""
# social_update_post_engagement_scores

Daily at 05:00: recomputes the feed-ranking score of every post created in the last
`social_engagement_window_days` (default 30) days before the data interval's end:

    score = (likes * 1 + comments * 3) / (age_hours + 2) ^ 1.5

where likes and comments are those made before the interval's end and `age_hours` is the
post's age at the interval's **end** (not the wall clock, so reruns and backfills compute the
same numbers), rounded to 9 decimals. Upserts into `social.post_engagement_scores` in key
ranges of post ids holding 20k window posts each, one statement per range, committed per
range, writing only rows that are new or whose score, likes or comments changed: a rerun of
the same interval writes 0 rows.
A rerun for the same interval end rescores only the posts whose likes or comments changed since
(marked by triggers in `social.engagement_dirty_posts`); Param `full` rescores the whole window.
Rows of posts older than the window, or deleted, are removed (bounded batches) so the table
stays small.
A row computed for a later interval end is never overwritten by a backfill of an earlier one.
Result `{posts_scanned, scores_written, scores_removed, batches}`. A soft time limit (27 min
of the 30 min timeout) stops it between batches and fails the try with "soft time limit: ...".

- **Owner:** social
- **Reads:** connection `social_db` (`social.posts`, `social.likes`, `social.comments`);
  variable `social_engagement_window_days` (default 30)
- **Writes:** `social.post_engagement_scores`
- **Triage:** safe to clear and re-run: upserts keyed by post_id that write only changed
  rows; a run stopped by the soft limit kept its finished ranges, so the retry continues. A
  score changed behind the triggers' back is repaired by `--conf '{"full": true}'`.
"""

from datetime import timedelta

from airflow.sdk import Param, dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 5 * * *"


@dag(schedule=interval_timetable("social", CRON),
     **dag_settings("social", queue="analytics", cron=CRON, execution_timeout=timedelta(minutes=30)),
     params={"full": Param(False, type="boolean", description="Rescore the whole window, not only changed posts")},
     doc_md=__doc__)
def social_update_post_engagement_scores():
    @task
    def update_scores() -> dict:
        from airflow.sdk import get_current_context

        from include.common.db import connect
        from include.orchestration import connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import current_interval
        from include.social.engagement import update_engagement_scores

        window_days = variables.get_int("social_engagement_window_days", 30, minimum=1, maximum=3650)
        _, data_interval_end = current_interval()
        with soft_limit() as budget, connect(connections.app_db("social")) as conn:
            return update_engagement_scores(conn, data_interval_end, window_days=window_days,
                                            full=get_current_context()["params"]["full"], budget=budget)

    update_scores()


social_update_post_engagement_scores()
