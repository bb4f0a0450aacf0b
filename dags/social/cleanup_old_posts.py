"""
# social_cleanup_old_posts

Weekly, Sunday 01:00: removes the posts created more than a year (variable
`social_old_post_days`, default 365) before the data interval's end whose engagement
(likes + comments) is below `social_old_post_min_engagement` (default 5), 2,000 posts per
transaction with their likes, comments, hashtag links and media rows; the media files
(originals and variant folders under `social_media_root`) are deleted after each commit.
Param `dry_run` (default false) reports the count and a sample of ids and changes nothing.

- **Owner:** social
- **Reads:** `social.posts`, `social.likes`, `social.comments`, `social.media_uploads`,
  `social.media_variants`; variables `social_old_post_days`, `social_old_post_min_engagement`,
  `social_media_root` (default `<repo>/.state/media`, `$JOBYARD_STATE/media` when set)
- **Writes:** deletes from `social.posts` and its child tables, and media files
- **Triage:** safe to clear and re-run: each batch commits on its own and a rerun only finds
  what is left. A soft time limit (55 min) stops before the next batch and fails saying
  how many were done; the retry continues. A missing media file is logged, not an error.
"""

from datetime import timedelta

from airflow.sdk import Param, dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 1 * * 0"


@dag(schedule=interval_timetable("social", CRON),
     **dag_settings("social", queue="maintenance", cron=CRON, execution_timeout=timedelta(hours=1)),
     params={"dry_run": Param(False, type="boolean", description="Only report what would be removed")},
     doc_md=__doc__)
def social_cleanup_old_posts():
    @task
    def remove_old_posts() -> dict:
        from pathlib import Path

        from airflow.sdk import get_current_context

        from include.common.db import connect
        from include.orchestration import connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import current_interval
        from include.social.media.storage import default_media_root
        from include.social.old_posts import cleanup_old_posts

        _, data_interval_end = current_interval()
        media_root = Path(variables.get_str("social_media_root", str(default_media_root())))
        older_than_days = variables.get_int("social_old_post_days", 365, minimum=1, maximum=36500)
        min_engagement = variables.get_int("social_old_post_min_engagement", 5, minimum=1)
        with soft_limit() as budget, connect(connections.app_db("social")) as conn:
            return cleanup_old_posts(conn, data_interval_end, media_root=media_root, older_than_days=older_than_days,
                                     min_engagement=min_engagement, dry_run=get_current_context()["params"]["dry_run"],
                                     budget=budget)

    remove_old_posts()


social_cleanup_old_posts()
