"""
# music_sync_audience

Daily at 04:00: for every tracked track (`is_tracked`) and every platform of the variable
`music_audience_platforms` (JSON list, default `["spotify"]`), fetches from Soundcharts
(`GET /api/v2/song/{uuid}/audience/{platform}`) the daily audience of the days of the
look-back window (variable `music_audience_days`, default 30, at most 90: the API's cap on one
period; the window ends with the run's local day) that come after the latest day already
stored: one request per (track, platform) that is behind, none for one that is up to date.
Each batch of 50 tracks is upserted in one statement (writing only changed values) and
committed; the stored days are the resume point, so the soft limit (27 of 30 minutes) stops
between batches and the next run continues. Malformed points are counted and skipped (more
than 5 % of a batch fails the run), unknown uuids counted as `not_found`. Result
`{tracks, requests, points, inserted, updated, malformed, not_found, batches}`.

- **Owner:** music
- **Reads:** `music.tracks`, `music.track_audience`; connection `soundcharts_api` (shared
  limit `soundcharts`, variable `rate_limits`; pool `soundcharts`); variables
  `music_audience_platforms`, `music_audience_days`
- **Writes:** `music.track_audience` (trimmed by `music_cleanup_old_data`)
- **Triage:** safe to clear and re-run: upserts keyed by (track_id, platform, day), and a
  rerun requests only the days still missing.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 4 * * *"
API_CONN_ID = "soundcharts_api"


@dag(schedule=interval_timetable("music", CRON),
     **dag_settings("music", queue="default", cron=CRON, execution_timeout=timedelta(minutes=30)), doc_md=__doc__)
def music_sync_audience():
    @task(pool="soundcharts")
    def sync_audience() -> dict:
        from include.common.db import connect
        from include.music.audience import sync_audience as sync
        from include.music.soundcharts_client import SoundchartsClient
        from include.orchestration import clients, connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import local_days

        platforms = variables.get_list("music_audience_platforms", ["spotify"], item=str, min_items=1)
        days = variables.get_int("music_audience_days", 30, minimum=1, maximum=90)
        last_day = local_days("music").first
        api, _ = clients.api(API_CONN_ID)
        with soft_limit() as budget, SoundchartsClient(api) as client, connect(connections.app_db("music")) as conn:
            return sync(conn, client, last_day, platforms=platforms, days=days, budget=budget)

    sync_audience()


music_sync_audience()
