"""
# videos_keyword_analysis

Daily at 02:00: for the data interval's day D (videos time zone), extracts the keywords of
every `success` video from its title, description and tags (English: YAKE; Chinese: jieba
segmentation and TF-IDF; tags always count as candidates; stop words removed; Chinese
keywords of 2+ characters), stores each video's top K in `videos.video_keywords`
(computed_for = D), then computes each keyword's performance for D in one SQL statement:
videos, mean daily views over D-6..D, and trend = (views of D-6..D - views of D-13..D-7) /
views of D-13..D-7 (0 when those are 0).

- **Owner:** videos
- **Reads:** `videos.videos`, `videos.daily_stats`; variables `videos_top_keywords`
  (default 10), `videos_keyword_batch_size` (default 500)
- **Writes:** `videos.video_keywords` (delete-and-insert per batch of videos, one
  transaction each), `videos.keyword_performance` (the rows of D)
- **Triage:** safe to clear and re-run: videos already analysed for D (or later) are
  skipped, so a run stopped by its soft time limit continues where it stopped; the
  performance rows of D are upserts rewritten only when a number differs.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 2 * * *"


@dag(schedule=interval_timetable("videos", CRON),
     **dag_settings("videos", queue="analytics", cron=CRON, execution_timeout=timedelta(minutes=30)), doc_md=__doc__)
def videos_keyword_analysis():
    @task
    def analyse_keywords() -> dict:
        from include.common.db import connect
        from include.orchestration import connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import local_days
        from include.videos.keywords import analyse_keywords

        top_k = variables.get_int("videos_top_keywords", 10, minimum=1, maximum=100)
        batch_size = variables.get_int("videos_keyword_batch_size", 500, minimum=1, maximum=50_000)
        with soft_limit() as budget, connect(connections.app_db("videos")) as conn:
            return analyse_keywords(conn, local_days("videos").first, budget=budget, top_k=top_k,
                                    batch_size=batch_size)

    analyse_keywords()


videos_keyword_analysis()
