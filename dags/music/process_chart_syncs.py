"""
# music_process_chart_syncs

Hourly: takes the active chart-sync schedules that are due (`next_sync_at <= now`) under a
lease (two overlapping runs never take the same schedule), then syncs each one in its own
mapped task (named by the chart's slug): the chart's available ranking dates from Soundcharts
(`soundcharts_api`), every date newer than the schedule's resume point within the retention
window (variable `music_retention_days`, 90), oldest first, each period committed with its
new tracks, its rankings and the resume point. Each schedule's execution row goes pending ->
running -> completed / partial / failed with its counts; `next_sync_at` advances by the
frequency from the schedule's own slot when the chart is up to date. A chart that is still
behind at its soft limit (27 of 30 minutes; at 2 requests a minute a new daily chart needs
several runs) ends `partial` with the periods left and stays due, so the next run continues.
A failed chart does not stop the others; `check_syncs` fails the run at the end naming them.
Emits the asset `music_tracks` when new tracks were created.

- **Owner:** music
- **Reads:** `music.chart_sync_schedules`, `music.charts`; connection `soundcharts_api`
  (shared limit `soundcharts`, variable `rate_limits`; pool `soundcharts`)
- **Writes:** `music.chart_sync_executions`, `music.chart_rankings`, `music.tracks`, the
  schedules' resume point, counters and `next_sync_at`
- **Triage:** safe to clear and re-run: a retry of the run gets its own claims back, rankings
  are upserts keyed by (chart, date, position), and each period moves the resume point in its
  own transaction. A failed chart's `error` is on its execution row; it stays due.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.assets import MUSIC_TRACKS
from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 * * * *"
API_CONN_ID = "soundcharts_api"


@dag(schedule=interval_timetable("music", CRON),
     **dag_settings("music", queue="default", cron=CRON, execution_timeout=timedelta(minutes=30)), doc_md=__doc__)
def music_process_chart_syncs():
    @task
    def claim_due_schedules() -> list[dict]:
        from datetime import UTC, datetime

        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowSkipException

        from include.common.db import connect
        from include.music.chart_sync import claim_due_schedules as claim
        from include.orchestration import connections, variables

        limit = variables.get_int("music_max_charts_per_run", 200, minimum=1, maximum=10_000)
        with connect(connections.app_db("music")) as conn:
            claims = claim(conn, datetime.now(UTC), get_current_context()["run_id"], limit=limit)
        if not claims:
            raise AirflowSkipException("no chart sync is due")
        return [c.as_dict() for c in claims]

    # The mapped instances are named by their chart (the TaskFlow way: a context variable).
    @task(pool="soundcharts", map_index_template="{{ chart_slug }}")
    def sync_chart(claim: dict) -> dict:
        from datetime import UTC, datetime

        from airflow.sdk import get_current_context

        from include.common.db import connect
        from include.music.chart_sync import Claim
        from include.music.chart_sync import sync_chart as sync
        from include.music.soundcharts_client import SoundchartsClient
        from include.orchestration import clients, connections, variables
        from include.orchestration.budget import soft_limit

        context = get_current_context()
        context["chart_slug"] = claim["slug"]
        retention = variables.get_int("music_retention_days", 90, minimum=1, maximum=3650)
        api, _ = clients.api(API_CONN_ID)
        with soft_limit() as budget, SoundchartsClient(api) as client, connect(connections.app_db("music")) as conn:
            return sync(conn, client, Claim.from_dict(claim), now=datetime.now(UTC),
                        run_id=context["run_id"], retention_days=retention, budget=budget)

    @task(trigger_rule="all_done")
    def check_syncs() -> dict:
        """Fails the run, naming them, when any chart failed (the others were synced)."""
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException

        from include.common.db import connect
        from include.music.chart_sync import run_report
        from include.orchestration import connections

        with connect(connections.app_db("music")) as conn:
            report = run_report(conn, get_current_context()["run_id"])
        if report["failed"]:
            errors = {slug: report["charts"][slug]["error"] for slug in report["failed"]}
            raise AirflowFailException(f"chart syncs failed: {', '.join(report['failed'])}; errors: {errors}")
        return report

    @task(trigger_rule="all_done", outlets=[MUSIC_TRACKS])
    def announce_new_tracks() -> dict:
        """The asset event (music_fetch_track_metadata runs on it), only when tracks are new."""
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowSkipException

        from include.common.db import connect
        from include.music.chart_sync import run_report
        from include.orchestration import connections

        context = get_current_context()
        with connect(connections.app_db("music")) as conn:
            report = run_report(conn, context["run_id"])
        created = sum(c["tracks_created"] for c in report["charts"].values())
        if not created:
            raise AirflowSkipException("no new tracks: no music_tracks event")
        context["outlet_events"][MUSIC_TRACKS].extra = {"tracks_created": created}
        return {"tracks_created": created}

    synced = sync_chart.expand(claim=claim_due_schedules())
    synced >> [check_syncs(), announce_new_tracks()]


music_process_chart_syncs()
