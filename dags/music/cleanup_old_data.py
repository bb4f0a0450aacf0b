"""
# music_cleanup_old_data

Daily at 02:00: deletes the chart rankings whose `ranking_date` lies more than
`music_retention_days` (default 90, the variable `music_process_chart_syncs` also keeps its
window by) before the data interval's end, and the audience rows (`music.track_audience`)
whose `day` is before that instant's local date. Deletes go in bounded batches, each one
short statement on a primary-key range, committed: rankings per chart in whole ranking dates
of at most 20k rows, audience walking (track, platform, day) 20k rows at a time. A soft time
limit (27 of 30 minutes) stops it between batches with the counts so far; the retry
continues. Result `{rankings, audience, batches}`.

- **Owner:** music
- **Reads:** connection `music_db` (`music.charts`); variable `music_retention_days`
- **Writes:** deletes from `music.chart_rankings` and `music.track_audience`
- **Triage:** safe to clear and re-run: deleting what is already gone does nothing, and a
  run stopped by the soft limit kept its finished batches.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 2 * * *"


@dag(schedule=interval_timetable("music", CRON),
     **dag_settings("music", queue="maintenance", cron=CRON, execution_timeout=timedelta(minutes=30)),
     doc_md=__doc__)
def music_cleanup_old_data():
    @task
    def delete_old_data() -> dict:
        from include.common.db import connect
        from include.music.cleanup import cleanup_old_data
        from include.orchestration import connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import local_days

        retention = variables.get_int("music_retention_days", 90, minimum=1, maximum=3650)
        interval_end = local_days("music").end
        with soft_limit() as budget, connect(connections.app_db("music")) as conn:
            return cleanup_old_data(conn, interval_end, retention_days=retention, budget=budget)

    delete_old_data()


music_cleanup_old_data()
