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
  `social_digest_batch_size` (default 5000); one-click unsubscribe links (RFC 8058) signed
  with the connection `unsubscribe_signing`, base URL from the variable `unsubscribe_base_urls`
- **Writes:** `platform.outbox` (then delivers it, as `platform_deliver_notifications` does)
- **Triage:** safe to clear, re-run or backfill: each user's digest of a week has one outbox
  key, so nothing is sent twice. A run stopped by its soft time limit committed its finished
  batches; the retry or a clear redoes the rest.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.notify import deliver_notifications
from include.orchestration.schedules import interval_timetable

CRON = "0 9 * * 1"


@dag(schedule=interval_timetable("social", CRON),
     **dag_settings("social", queue="emails", cron=CRON, execution_timeout=timedelta(hours=1)), doc_md=__doc__)
def social_send_content_digest():
    @task
    def queue_digests() -> dict:
        from include.common.db import connect
        from include.orchestration import connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import local_days
        from include.orchestration.unsubscribe import unsubscribe_links
        from include.social import digest

        week = local_days("social")  # the week and its label are the social calendar's
        top_n = variables.get_int("social_digest_top_n", 5, minimum=1, maximum=50)
        batch_size = variables.get_int("social_digest_batch_size", 5000, minimum=1, maximum=100_000)
        links = unsubscribe_links("social")
        with soft_limit() as budget, connect(connections.outbox_db("social")) as conn:
            return digest.queue_digests(conn, week.start, week.end, top_n=top_n, batch_size=batch_size,
                                        budget=budget, unsubscribe=links)

    deliver_notifications(upstream=queue_digests())


social_send_content_digest()
