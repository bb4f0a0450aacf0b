"""
# videos_daily_ai_reports

Daily at 18:00 (videos time zone): for day D, the day the data interval starts in (the last
complete day; today is still running), one report per tracked video (status `success`,
published by the end of D) in `videos.daily_reports`: the facts (views of D, change vs D-1
and vs the mean of the 7 days before, absolute and %, engagement rate (likes + comments +
shares) / views, the latest prediction made for a day <= D, the top 5 keywords), computed
for a batch of creators in one statement and stored as JSON, and a narrative written by an
OpenAI-compatible chat-completions API. A narrative with any number that is not one of the
facts, or an API failure after retries, is replaced by the deterministic template narrative
(`narrative_source='template'`, `fallback_reason` says why); without the `llm_default`
connection every narrative is the template's. Each creator gets one email for D (outbox key
`videos-report:<creator_id>:<D>`): their videos' facts and narratives with a 30-day chart
of views (an inline PNG). LLM calls run at most `videos_report_llm_concurrency` (default 4) at
a time.

- **Owner:** videos
- **Reads:** `videos.creators`, `videos.videos`, `videos.daily_stats`, `videos.predictions`,
  `videos.video_keywords` (connection `videos_db`); connection `llm_default` (host = API
  base URL, password = API key, extra `model`, `auth: bearer`; optional); variables
  `videos_report_llm_concurrency` (4), `videos_report_batch_size` (creators per batch, 100);
  one-click unsubscribe links (RFC 8058) signed with the connection `unsubscribe_signing`,
  base URL from the variable `unsubscribe_base_urls`
- **Writes:** `videos.daily_reports`, `platform.outbox` (then delivers it, as
  `platform_deliver_notifications` does)
- **Triage:** safe to clear, re-run or backfill: reports are upserts keyed by
  (video_id, day) and the day's set is replaced, so a rerun never duplicates; each
  creator's email of D has one outbox key, so nothing is sent twice. Many
  `fallback_reason = 'llm error: ...'` rows: check the `llm_default` API, then clear the run.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.notify import deliver_notifications
from include.orchestration.schedules import interval_timetable

CRON = "0 18 * * *"
LLM_CONN_ID = "llm_default"
MAX_LLM_CONCURRENCY = 8


def _chat_clients(count: int) -> tuple[list, str | None]:
    """`count` chat clients of `llm_default` (one per worker thread), built here in the task's
    main thread; or none and the reason when the connection is not defined."""
    from include.orchestration.clients import LlmSettings, api_connection
    from include.videos.llm_client import ChatClient

    llm = api_connection(LLM_CONN_ID, LlmSettings, optional=True)
    if llm is None:
        return [], f"no {LLM_CONN_ID} connection"
    return [ChatClient(llm.client(), llm.settings.model) for _ in range(count)], None


@dag(schedule=interval_timetable("videos", CRON),
     **dag_settings("videos", queue="analytics", cron=CRON, execution_timeout=timedelta(hours=1)), doc_md=__doc__)
def videos_daily_ai_reports():
    @task
    def write_reports() -> dict:
        from include.common.db import connect
        from include.orchestration import connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import local_days
        from include.orchestration.unsubscribe import unsubscribe_links
        from include.videos import reports

        days = local_days("videos")
        concurrency = variables.get_int("videos_report_llm_concurrency", 4, minimum=1, maximum=MAX_LLM_CONCURRENCY)
        batch_size = variables.get_int("videos_report_batch_size", 100, minimum=1, maximum=10_000)
        links = unsubscribe_links("videos")
        clients, no_llm_reason = _chat_clients(concurrency)
        try:
            with soft_limit() as budget, connect(connections.outbox_db("videos")) as conn:
                return reports.generate_daily_reports(
                    conn, days.first, days.bounds(days.first)[1], chat_clients=clients, no_llm_reason=no_llm_reason,
                    batch_size=batch_size, budget=budget, unsubscribe=links)
        finally:
            for client in clients:
                client.close()

    deliver_notifications(upstream=write_reports())


videos_daily_ai_reports()
