"""
# social_update_trending_hashtags

Hourly: scores every hashtag used in the 7 days before the data interval's end with a
time decay (each use counts 2^(-age_hours / half_life), age taken at the interval end), keeps
those used at least `min_uses` times, writes the top N (ties by tag) to
`social.trending_hashtags` for that interval end, and moves the trending marks of
`social.hashtags` (is_trending, rank, score) to them, writing only the rows that change.

- **Owner:** social
- **Reads:** `social.post_hashtags`, `social.hashtags`; variables
  `social_trending_half_life_hours` (default 24), `social_trending_min_uses` (default 3),
  `social_trending_top_n` (default 20)
- **Writes:** `social.trending_hashtags` (the interval's rows), `social.hashtags` trending marks
- **Triage:** safe to clear and re-run: the interval's ranking is deleted and inserted in one
  transaction; a backfill of an older interval writes its ranking but leaves the marks on
  the latest interval.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 * * * *"


@dag(schedule=interval_timetable("social", CRON),
     **dag_settings("social", queue="analytics", cron=CRON,
                     execution_timeout=timedelta(minutes=10)), doc_md=__doc__)
def social_update_trending_hashtags():
    @task
    def rank_hashtags() -> dict:
        from include.common.db import connect
        from include.orchestration import connections, variables
        from include.orchestration.schedules import current_interval
        from include.social.trending import update_trending

        _, data_interval_end = current_interval()
        with connect(connections.app_db("social")) as conn:
            return update_trending(
                conn, data_interval_end,
                half_life_hours=variables.get_float("social_trending_half_life_hours", 24.0, minimum=0.1,
                                                    maximum=24 * 365),
                min_uses=variables.get_int("social_trending_min_uses", 3, minimum=1),
                top_n=variables.get_int("social_trending_top_n", 20, minimum=1, maximum=1000),
            )

    rank_hashtags()


social_update_trending_hashtags()
