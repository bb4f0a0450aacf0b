"""
# ads_fetch_ad_data

Every 6 hours (00, 06, 12, 18 UTC): fetches the daily campaign performance (spend,
impressions, clicks, conversions, revenue) of every active ad account, one task per
platform: Meta Marketing API insights (`meta_ads_api`, cursor paging), TikTok Business API
reports (`tiktok_ads_api`, page/total_page, 30 days per request) and Google Ads
`searchStream` (`google_ads_api`, after an OAuth refresh of the stored refresh token). The
range is every UTC day the data interval touches plus a look-back of
`ads_restatement_days` (default 3) days, since platforms restate recent days. Rows are
COPY-staged and merged into `ads.campaigns` and `ads.campaign_daily_stats`, writing only new
and changed rows; money is exact (NUMERIC: decimal strings, Google micros / 10^6), a
revenue the platform does not report (TikTok `"-"`) is NULL. Malformed rows are counted and
skipped; more than 5 % fails that account before writing. One account's failure does not
stop the others: a rejected token marks the account `needs_reauth`, and `check_accounts`
fails the run naming every failed account. The soft limit (55 of 60 minutes) stops between
accounts and names the ones left. Emits the asset `ads_stats` when rows changed.

- **Owner:** ads
- **Reads:** `ads.ad_accounts` (status `active`), `ads.ad_account_tokens` (Fernet key:
  connection `ads_token_key`); connections `meta_ads_api`, `tiktok_ads_api`,
  `google_ads_api`; variable `ads_restatement_days`
- **Writes:** `ads.campaigns`, `ads.campaign_daily_stats`; `ads.ad_accounts.status` /
  `last_error` of an account whose token was rejected
- **Triage:** safe to clear and re-run (or backfill): writes are upserts keyed by (account,
  campaign, day) that rewrite only changed figures. A `needs_reauth` account is skipped
  until its user reconnects it (ads_check_token_expiry alerts them).
"""

from airflow.sdk import dag, task

from include.orchestration.assets import ADS_STATS
from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 */6 * * *"
PLATFORMS = ("meta", "tiktok", "google")


@dag(schedule=interval_timetable("ads", CRON), **dag_settings("ads", queue="analytics", cron=CRON),
     doc_md=__doc__)
def ads_fetch_ad_data():
    @task
    def fetch_stats(platform: str) -> dict:
        from datetime import UTC, datetime, timedelta

        from airflow.sdk import get_current_context

        from include.ads.fetch import AccountsFailed, fetch_platform
        from include.common.db import connect
        from include.orchestration import clients, connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import local_days

        days = local_days("ads")
        restatement = variables.get_int("ads_restatement_days", 3, minimum=0, maximum=90)
        cipher = clients.token_cipher()
        with soft_limit() as budget, clients.ads_client(platform) as client, \
                connect(connections.app_db("ads")) as conn:
            try:
                return fetch_platform(conn, platform, client, cipher, days.first - timedelta(days=restatement),
                                      days.last, now=datetime.now(UTC), budget=budget)
            except AccountsFailed as failed:
                get_current_context()["ti"].xcom_push(key="return_value", value=failed.result)
                raise

    def results() -> dict[str, dict | None]:
        from airflow.sdk import get_current_context

        ti = get_current_context()["ti"]
        return {p: ti.xcom_pull(task_ids=f"fetch_{p}_stats") for p in PLATFORMS}

    @task(trigger_rule="all_done")
    def check_accounts() -> dict:
        """Fails the run naming the accounts (and platforms) that failed; the others landed."""
        from airflow.sdk.exceptions import AirflowFailException

        found = results()
        failed = {label: error for r in found.values() if r for label, error in r.get("failed", {}).items()}
        left = [label for r in found.values() if r for label in r.get("accounts_left", [])]
        missing = [p for p, r in found.items() if r is None]
        if failed or left or missing:
            parts = [f"accounts failed: {', '.join(sorted(failed))}" if failed else "",
                     f"left by the soft time limit: {', '.join(left)}" if left else "",
                     f"platform tasks without a result (see their logs): {', '.join(missing)}" if missing else ""]
            raise AirflowFailException("; ".join(p for p in parts if p) + (f"; errors: {failed}" if failed else ""))
        return {p: {k: r[k] for k in ("accounts", "fetched", "malformed", "inserted", "updated")}
                for p, r in found.items()}

    @task(trigger_rule="all_done", outlets=[ADS_STATS])
    def announce_stats() -> dict:
        """The asset event (the report and anomaly jobs follow it), only when rows changed."""
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowSkipException

        found = [r for r in results().values() if r]
        changed = sum(r["inserted"] + r["updated"] for r in found)
        if not changed:
            raise AirflowSkipException("no campaign stats changed: no ads_stats event")
        extra = {"start_day": min(r["start_day"] for r in found), "end_day": max(r["end_day"] for r in found),
                 "inserted": sum(r["inserted"] for r in found), "updated": sum(r["updated"] for r in found)}
        get_current_context()["outlet_events"][ADS_STATS].extra = extra
        return extra

    fetched = [fetch_stats.override(task_id=f"fetch_{platform}_stats")(platform) for platform in PLATFORMS]
    fetched >> check_accounts()
    fetched >> announce_stats()


ads_fetch_ad_data()
