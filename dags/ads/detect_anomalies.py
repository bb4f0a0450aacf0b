"""
# ads_detect_anomalies

Hourly, and whenever fresh stats land (the asset `ads_stats`, emitted by `ads_fetch_ad_data`):
flags CPA spikes and ROAS drops per campaign on COMPLETE UTC days only (a partial day's CPA
is never compared with whole days): the last `ads_anomaly_eval_days` (default 3) days before
the UTC date the run's interval ends in (an asset-triggered or manual run without an interval:
its `run_after`), re-evaluated every run because the platforms restate recent days. The
baseline is the campaign's previous `ads_anomaly_baseline_days` (default 28) days, at least
`ads_anomaly_min_history` (default 14) of them with a value: robust z = (x - median) /
(1.4826 x max(MAD, 10 % of the median)); CPA z >= `ads_anomaly_threshold` (default 4) is a
spike, ROAS z <= -threshold a drop; campaigns that spent less than `ads_anomaly_min_spend`
(default 50, account currency) that day or on average in their baseline are not scored. One
set-based statement per range of `ads_anomaly_batch_size` (default 500) account ids inserts
each anomaly once into `ads.anomalies` and queues its one email to the account's (active) user
(outbox key `ads-anomaly:<anomaly id>`, template `ads/anomaly`), then they are delivered.
Result `{first_day, last_day, observed_days, scored, flagged, inserted, emails_queued,
anomalies, batches}`.

- **Owner:** ads
- **Reads:** `ads.campaign_daily_stats`, `ads.ad_accounts`, `ads.users`, `ads.campaigns`
  (connection `ads_db`); the variables above
- **Writes:** `ads.anomalies`, `platform.outbox` (then delivers it)
- **Triage:** safe to clear, re-run or backfill: anomalies are keyed by (account, campaign,
  metric, period, day) and inserted with ON CONFLICT DO NOTHING, and an email is queued only
  with the insert of its anomaly, so nothing is recorded or sent twice. A soft-limit stop
  (55 of 60 minutes) kept its finished batches; the retry redoes the rest.
"""

from airflow.sdk import AssetOrTimeSchedule, dag, task

from include.orchestration.assets import ADS_STATS
from include.orchestration.defaults import dag_settings
from include.orchestration.notify import deliver_notifications
from include.orchestration.schedules import interval_timetable

CRON = "0 * * * *"


@dag(schedule=AssetOrTimeSchedule(timetable=interval_timetable("ads", CRON), assets=[ADS_STATS]),
     **dag_settings("ads", queue="analytics", cron=CRON), doc_md=__doc__)
def ads_detect_anomalies():
    @task
    def detect_anomalies() -> dict:
        from airflow.sdk import get_current_context

        from include.ads.anomalies import detect_anomalies as detect
        from include.common.db import connect
        from include.orchestration import connections, variables
        from include.orchestration.budget import soft_limit

        context = get_current_context()
        # An asset-triggered or manual run may have no data interval: it is then about its run_after.
        end = context.get("data_interval_end") or context["dag_run"].run_after
        baseline_days = variables.get_int("ads_anomaly_baseline_days", 28, minimum=7, maximum=365)
        settings = {
            "eval_days": variables.get_int("ads_anomaly_eval_days", 3, minimum=1, maximum=90),
            "baseline_days": baseline_days,
            "min_history": variables.get_int("ads_anomaly_min_history", min(14, baseline_days), minimum=3,
                                             maximum=baseline_days),
            "min_spend": variables.get_float("ads_anomaly_min_spend", 50.0, minimum=0.0),
            "threshold": variables.get_float("ads_anomaly_threshold", 4.0, minimum=2.0, maximum=50.0),
            "batch_size": variables.get_int("ads_anomaly_batch_size", 500, minimum=1, maximum=100_000),
        }
        with soft_limit() as budget, connect(connections.outbox_db("ads")) as conn:
            return detect(conn, end, budget=budget, **settings)

    deliver_notifications(upstream=detect_anomalies())


ads_detect_anomalies()
