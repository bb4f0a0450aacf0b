"""
# music_schedule_chart_sync

Manual, with `--conf '{"chart_id": 3, "frequency": "daily"}'`: creates the chart's sync
schedule, or updates its frequency, and makes it due now, so the next hourly
`music_process_chart_syncs` run catches the chart up (its resume point is kept: an update
never re-fetches periods already stored). `frequency` is one of daily, weekly, monthly; a
bad value is refused by the trigger form, CLI and API naming the field; an unknown
`chart_id` fails at once, naming it, without retries.

- **Owner:** music
- **Reads:** `music.charts`
- **Writes:** `music.chart_sync_schedules` (one row per chart)
- **Triage:** safe to trigger again: the schedule is an upsert keyed by the chart.
"""

from datetime import timedelta

from airflow.sdk import Param, dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.params import id_param


@dag(schedule=None,
     **dag_settings("music", queue="default", cron=None, execution_timeout=timedelta(minutes=5)),
     params={"chart_id": id_param("id of the chart in music.charts"),
             "frequency": Param("weekly", type="string", enum=["daily", "weekly", "monthly"],
                                description="how often the chart is synced")},
     doc_md=__doc__)
def music_schedule_chart_sync():
    @task
    def upsert_schedule() -> dict:
        from datetime import UTC, datetime

        from airflow.sdk import get_current_context

        from include.common.db import connect
        from include.music.chart_sync import schedule_chart_sync
        from include.orchestration import connections

        # An unknown chart is UnknownChart, a permanent error: the task fails at once.
        params = get_current_context()["params"]
        with connect(connections.app_db("music")) as conn:
            return schedule_chart_sync(conn, params["chart_id"], params["frequency"], datetime.now(UTC))

    upsert_schedule()


music_schedule_chart_sync()
