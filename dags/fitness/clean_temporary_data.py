"""
# fitness_clean_temporary_data

Daily at 00:00 (fitness time zone): deletes the temporary uploads created more than 24 h
before the data interval's end, 1,000 rows per transaction (variable
`fitness_cleanup_batch_size`), and their files under the variable `fitness_upload_root`
(default `<state folder>/fitness_uploads`) after each commit: a path outside the root is
refused and counted, a file already gone is counted, a missing root fails the run before
anything is deleted. Then recomputes, in ONE set-based UPDATE, every `fitness.cached_stats`
row last updated more than a week before the interval end (`jsonb_build_object` of the
user's workouts, total minutes, total calories and last workout, as of the interval end,
stamped with it). Result `{upload_cutoff, stats_cutoff, deleted_uploads, deleted_files,
missing_files, refused_files, stats_refreshed, batches}`.

- **Owner:** fitness
- **Reads:** `fitness.temporary_uploads`, `fitness.cached_stats`, `fitness.workouts`
  (connection `fitness_db`); variables `fitness_upload_root`, `fitness_cleanup_batch_size`
- **Writes:** deletes `fitness.temporary_uploads` rows and their files; updates
  `fitness.cached_stats`
- **Triage:** safe to clear and re-run: deleted uploads are gone and refreshed stats are
  stamped with the interval end, so a rerun deletes and refreshes nothing. A crash between
  a batch's commit and its file deletes leaves orphan files (never rows without files);
  `refused_files` > 0 means a row pointed outside the upload root: check that row's writer.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 0 * * *"


@dag(schedule=interval_timetable("fitness", CRON),
     **dag_settings("fitness", queue="maintenance", cron=CRON, execution_timeout=timedelta(minutes=30)),
     doc_md=__doc__)
def fitness_clean_temporary_data():
    @task
    def clean_temporary_data() -> dict:
        from pathlib import Path

        from include.common.db import connect
        from include.fitness.cleanup import clean_temporary_data, default_upload_root
        from include.orchestration import connections, variables
        from include.orchestration.budget import soft_limit
        from include.orchestration.schedules import current_interval

        _, data_interval_end = current_interval()
        upload_root = Path(variables.get_str("fitness_upload_root", str(default_upload_root())))
        batch_size = variables.get_int("fitness_cleanup_batch_size", 1000, minimum=1, maximum=50_000)
        with soft_limit() as budget, connect(connections.app_db("fitness")) as conn:
            return clean_temporary_data(conn, data_interval_end, upload_root=upload_root, batch_size=batch_size,
                                        budget=budget)

    clean_temporary_data()


fitness_clean_temporary_data()
