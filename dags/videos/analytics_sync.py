"""
# videos_analytics_sync

Hourly at minute 0: pulls the daily statistics (views, likes, comments, shares, watch
minutes) of every tracked video with status `success` from the YouTube Analytics API v2
(`GET /v2/reports`, `dimensions=day,video`, at most 500 ids per `filters=video==...` call,
paged with `maxResults`/`startIndex`) for the `days_back` days ending at the data
interval's day (in the videos time zone, `VIDEOS_TZ`), and upserts them into
`videos.daily_stats` (COPY into a staging table, one merge). Emits the asset `videos_stats`
(extra: the days and counts). Result `{videos, batches, fetched, malformed, stored,
inserted, updated, unexpected}`. Malformed rows are logged with their video id, counted and
skipped; more than 5% malformed fails the run before anything is written.

- **Owner:** videos
- **Reads:** connections `videos_db` (`videos.videos`) and `videos_analytics_api` (bearer
  token; extras `ids`, default `channel==MINE`, and `page_size`, default 5000); param
  `days_back`, else variable `videos_analytics_days_back` (default 1)
- **Writes:** `videos.daily_stats`; asset `videos_stats`
- **Triage:** safe to clear and re-run: writes are upserts keyed by (video_id, day) that
  rewrite only rows whose numbers changed, so a rerun of an hour changes nothing. A run
  stopped by the soft time limit (27 min) committed what it fetched and fails saying so;
  the retry syncs everything again. 429/5xx are retried by the client (Retry-After honoured).
"""

from datetime import timedelta

from airflow.sdk import Param, dag, task

from include.orchestration.assets import VIDEOS_STATS
from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 * * * *"
API_CONN_ID = "videos_analytics_api"


@dag(schedule=interval_timetable("videos", CRON),
     **dag_settings("videos", queue="analytics", cron=CRON, execution_timeout=timedelta(minutes=30)),
     params={"days_back": Param(None, type=["null", "integer"], minimum=1, maximum=90,
                                description="days to sync, ending at the interval's day "
                                            "(default: variable videos_analytics_days_back, else 1)")},
     doc_md=__doc__)
def videos_analytics_sync():
    @task(outlets=[VIDEOS_STATS])
    def sync_stats() -> dict:
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowSkipException

        from include.common.db import connect
        from include.orchestration import clients, connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import local_days
        from include.videos.analytics_sync import sync_stats as sync
        from include.videos.youtube_client import YouTubeAnalyticsClient

        context = get_current_context()
        end_day = local_days("videos").first
        days_back = context["params"]["days_back"] or variables.get_int("videos_analytics_days_back", 1,
                                                                        minimum=1, maximum=90)
        start_day = end_day - timedelta(days=days_back - 1)
        api, youtube = clients.api(API_CONN_ID, clients.YouTubeSettings)
        with soft_limit() as budget, api, connect(connections.app_db("videos")) as conn:
            client = YouTubeAnalyticsClient(api, ids=youtube.ids, page_size=youtube.page_size)
            receipt = sync(conn, client, start_day, end_day, budget=budget)
        if receipt["videos"] == 0:
            raise AirflowSkipException("no video has status success: nothing to sync")
        context["outlet_events"][VIDEOS_STATS].extra = {
            k: receipt[k] for k in ("start_day", "end_day", "stored", "inserted", "updated")}
        return receipt

    sync_stats()


videos_analytics_sync()
