"""
# videos_adsense_sync

Daily at 09:00: pulls the AdSense account's estimated earnings, page views and clicks per
day from the AdSense Management API v2 (`GET /v2/accounts/{account}/reports:generate`,
`dateRange=CUSTOM`, `dimensions=DATE`) for the last `videos_adsense_days_back` days (default
3) ending at the data interval's day (in the videos time zone, `VIDEOS_TZ`: the day before
the run), and upserts them per (account, day) into `videos.adsense_earnings`: AdSense
revises recent days, so they are re-read and a revised day is updated. Money is parsed from
the API's strings into exact decimals (NUMERIC), never float. Result `{account_id, fetched,
malformed, stored, inserted, updated}`; more than 5% malformed rows fails before writing.

- **Owner:** videos
- **Reads:** connection `adsense_api` (bearer token; extras `account_id`, e.g.
  `pub-1234567890123456`, and optional `currency_code`); variable `videos_adsense_days_back`
- **Writes:** `videos.adsense_earnings`
- **Triage:** safe to clear and re-run (or backfill): writes are upserts keyed by
  (account_id, day) that rewrite only days whose figures changed.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 9 * * *"
API_CONN_ID = "adsense_api"


@dag(schedule=interval_timetable("videos", CRON),
     **dag_settings("videos", queue="analytics", cron=CRON, execution_timeout=timedelta(minutes=15)),
     doc_md=__doc__)
def videos_adsense_sync():
    @task
    def sync_earnings() -> dict:
        from include.common.db import connect
        from include.orchestration import clients, connections, variables
        from include.orchestration.schedules import local_days
        from include.videos.adsense_client import AdSenseClient
        from include.videos.adsense_sync import sync_earnings as sync

        end_day = local_days("videos").first
        days_back = variables.get_int("videos_adsense_days_back", 3, minimum=1, maximum=365)
        api, adsense = clients.api(API_CONN_ID, clients.AdSenseSettings)
        with api, connect(connections.app_db("videos")) as conn:
            client = AdSenseClient(api, currency_code=adsense.currency_code)
            return sync(conn, client, adsense.account_id, end_day - timedelta(days=days_back - 1), end_day)

    sync_earnings()


videos_adsense_sync()
