"""
# social_send_content_digest

Weekly, Monday 09:00 (social time zone): for the week of the data interval, every active
user (`is_active`, seen within the 30 days before the interval end) who follows at least one
account and has not opted out (`digest_opt_out`) gets ONE email with the top N posts of that
week from the accounts they follow, ranked by likes + 3 * comments made up to the interval
end (ties: lower post id first). Users whose followees posted nothing that week get none.
N is the variable `social_digest_top_n` (default 5). Recipients are computed in key-range
batches of user ids (one statement per batch) and queued in the outbox with dedupe key
`digest:<user_id>:<ISO year-week of the interval start>`, then delivered.

- **Owner:** social
- **Reads:** `social.users`, `social.follows`, `social.posts`, `social.likes`,
  `social.comments` (connection `social_db`); variables `social_digest_top_n`,
  `social_digest_batch_size` (default 5000)
- **Writes:** `platform.outbox` (then delivers it, as `platform_deliver_notifications` does)
- **Triage:** safe to clear, re-run or backfill: each user's digest of a week has one outbox
  key, so nothing is sent twice. A run stopped by its soft time limit committed its finished
  batches; the retry or a clear redoes the rest.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 9 * * 1"
TIMEOUT = timedelta(hours=1)
SOFT_LIMIT_SECONDS = (TIMEOUT - timedelta(minutes=5)).total_seconds()  # room to commit and fail cleanly


@dag(schedule=interval_timetable("social", CRON),
     **dag_settings("social", queue="emails", cron=CRON, execution_timeout=TIMEOUT), doc_md=__doc__)
def social_send_content_digest():
    @task
    def queue_digests() -> dict:
        from zoneinfo import ZoneInfo

        from include.common.db import connect
        from include.common.time_budget import TimeBudget
        from include.orchestration import connections, variables
        from include.orchestration.schedules import current_interval, domain_timezone
        from include.social import digest

        budget = TimeBudget(SOFT_LIMIT_SECONDS)
        start, end = current_interval()
        zone = ZoneInfo(domain_timezone("social"))  # the week label is the social calendar's
        with connect(connections.outbox_db("social")) as conn:
            return digest.queue_digests(
                conn, start.astimezone(zone), end.astimezone(zone),
                top_n=int(variables.get("social_digest_top_n", 5)),
                batch_size=int(variables.get("social_digest_batch_size", 5000)),
                should_continue=lambda: not budget.exhausted(),
            )

    @task
    def deliver_digests(receipt: dict) -> dict:
        """Send them now rather than at the next outbox sweeps."""
        from include.orchestration.notify import deliver_outbox

        return deliver_outbox(soft_limit_seconds=SOFT_LIMIT_SECONDS)

    deliver_digests(queue_digests())


social_send_content_digest()
