"""
# ads_generate_daily_report

Daily at 09:00 UTC: for yesterday (the UTC day the data interval starts in), every active
user (`is_active`) who has not opted out (`report_opt_out`) and whose ad accounts spent that
day gets ONE email: per account, in the account's currency (amounts in different currencies
are never added up), the spend, CPA (spend / conversions) and ROAS (revenue / spend of the
campaigns that report revenue), each with its change vs the 7 days before (daily mean spend;
CPA and ROAS of those 7 days' totals), and a 30-day chart of spend per currency (an inline
PNG, its numbers in the text part too). Users without accounts or without spend that day get
none. One statement per range of `ads_report_batch_size` (default 200) user ids computes the
figures (exact NUMERIC); the emails are queued in the outbox with dedupe key
`ads-report:<user_id>:<day>`, then delivered. Result `{day, recipients, accounts, queued,
skipped_already_sent, batches}`.

- **Owner:** ads
- **Reads:** `ads.users`, `ads.ad_accounts`, `ads.campaign_daily_stats` (connection `ads_db`);
  variable `ads_report_batch_size`; one-click unsubscribe links (RFC 8058) signed with the
  connection `unsubscribe_signing`, base URL from the variable `unsubscribe_base_urls`
- **Writes:** `platform.outbox` (then delivers it, as `platform_deliver_notifications` does)
- **Triage:** safe to clear, re-run or backfill: each user's report of a day has one outbox
  key, so nothing is sent twice. A run stopped by its soft time limit (55 of 60 minutes)
  committed its finished batches; the retry does the rest.
"""

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.notify import deliver_notifications
from include.orchestration.schedules import interval_timetable

CRON = "0 9 * * *"


@dag(schedule=interval_timetable("ads", CRON), **dag_settings("ads", queue="emails", cron=CRON), doc_md=__doc__)
def ads_generate_daily_report():
    @task
    def queue_reports() -> dict:
        from include.ads.daily_report import queue_daily_reports
        from include.common.db import connect
        from include.orchestration import connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import local_days
        from include.orchestration.unsubscribe import unsubscribe_links

        day = local_days("ads").first  # the 09:00 run's interval starts yesterday at 09:00
        batch_size = variables.get_int("ads_report_batch_size", 200, minimum=1, maximum=10_000)
        links = unsubscribe_links("ads")
        with soft_limit() as budget, connect(connections.outbox_db("ads")) as conn:
            return queue_daily_reports(conn, day, batch_size=batch_size, budget=budget, unsubscribe=links)

    deliver_notifications(upstream=queue_reports())


ads_generate_daily_report()
