"""
# videos_ml_predictions

Daily at 00:00: for the data interval's day D (videos time zone), trains one global
gradient-boosting model (scikit-learn HistGradientBoostingRegressor on log views, lags 1-7,
7- and 28-day means, day of week, days since publish) on the stats history up to and
including D-1 (D's own stats are still landing when the run starts), and predicts each
`success` video's views for D..D+6, recursively. A backtest repeats it one week earlier
(trained up to D-8, predicting D-7..D-1) beside the naive baseline (the trailing 7-day
mean); both mean absolute errors are stored with the model version. Videos with fewer than
`videos_min_history_days` days of history get the baseline, marked method='baseline'.
Deterministic for a given D (fixed random_state, one thread, id order).

- **Owner:** videos
- **Reads:** `videos.videos`, `videos.daily_stats` (the last max(train_days + 35,
  min_history_days) days before D, one binary COPY); variables `videos_min_history_days`
  (default 28), `videos_prediction_train_days` (default 84), `videos_prediction_max_train_rows`
  (default 400000)
- **Writes:** `videos.predictions` (the rows of made_for = D)
- **Triage:** safe to clear and re-run or backfill: rows are upserts keyed by
  (video_id, made_for), rewritten only when a value differs, and the same D gives the same
  predictions; rows of D for videos no longer tracked are deleted.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 0 * * *"


@dag(schedule=interval_timetable("videos", CRON),
     **dag_settings("videos", queue="analytics", cron=CRON, execution_timeout=timedelta(minutes=30)), doc_md=__doc__)
def videos_ml_predictions():
    @task
    def predict_views() -> dict:
        from include.common.db import connect
        from include.orchestration import connections, variables
        from include.orchestration.schedules import local_days
        from include.videos.predictions import predict_views

        days = local_days("videos")
        with connect(connections.app_db("videos")) as conn:
            return predict_views(
                conn, days.midnight(days.first),
                min_history_days=variables.get_int("videos_min_history_days", 28, minimum=14, maximum=3650),
                train_days=variables.get_int("videos_prediction_train_days", 84, minimum=7, maximum=3650),
                max_train_rows=variables.get_int("videos_prediction_max_train_rows", 400_000, minimum=1000),
            )

    predict_views()


videos_ml_predictions()
