"""Views forecasts: one global gradient-boosting model over all tracked videos, predicting
each video's views for the 7 days from the data interval's day, with a backtest on the
held-out last week beside the naive baseline (the trailing 7-day mean).

Days. D is the data interval's day in the videos time zone (the daily 00:00 run of
[D 00:00, D+1 00:00) starts when D ends). D's own stats are still landing then (its last
hour is synced by the hourly job of the same minute, and YouTube Analytics revises the
latest days), so the history is the stats of the days up to and including D-1, and the
forecast made for D is `predicted_views` = views of D, D+1, ..., D+6. The backtest repeats
the procedure one week earlier: the model trained on the days up to D-8 predicts D-7..D-1,
and so does the baseline (the mean of D-14..D-8); both are scored against the actual
views. Nothing depends on the wall clock, so a rerun or a backfill of D gives the same rows.

History. The stats of the W = max(train_days + 35, min_history_days) days before D are read
in one binary COPY into a (videos x W) array. A missing day (not synced yet, a sync gap)
is unknown: the features carry the last known day forward over it, and it is never a
training target nor scored in a backtest. A video's history is the number of days from its
first stats row in that window through D-1. Videos without any stats row in the window get
no prediction (and lose a stale row of D, if any).

Model (`hgb-lag7-v1`). Target log1p(views of day t) - level, where level = log1p(mean
views of t-7..t-1), so that one model serves videos of every size. Features: log1p of the
views of t-1..t-7 minus level, log1p(28-day mean) minus level, level, the day of week of t
(categorical) and log1p(days since publish). Trained on the last `train_days` days of
every video with 7 known days before the target (a deterministic subsample of videos when
that exceeds `max_train_rows`); HistGradientBoostingRegressor with fixed random_state and
no early stopping (so no random validation split); 7 days predicted recursively (each
prediction becomes a lag of the next day). Videos with fewer than `min_history_days` days
of history get the baseline instead, marked method='baseline'.

Stored per video in `videos.predictions` (key (video_id, made_for=D)): the method, the model
version (`hgb-lag7-v1+sklearn-<version>`, or `mean7-v1` for baseline rows), the 7 rounded
predictions, backtest_mae = the model's mean absolute error on the video's held-out days
(NULL for baseline rows) and baseline_mae = the baseline's (NULL when the video has no
known day before D-7 or no actual day in D-7..D-1).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import psycopg

from include.videos.repository import predictions as repo

log = logging.getLogger(__name__)

MODEL_NAME = "hgb-lag7-v1"
BASELINE_VERSION = "mean7-v1"
HORIZON = 7  # days predicted, and the length of the held-out backtest week
LAGS = 7
LONG_WINDOW = 28
# Feature columns: lag1..lag7, mean28, level, day of week, age.
MEAN28, LEVEL, DOW, AGE = LAGS, LAGS + 1, LAGS + 2, LAGS + 3
N_FEATURES = LAGS + 4
MIN_TRAIN_ROWS = 50  # fewer training rows than this: every video gets the baseline
RANDOM_STATE = 0


def model_version() -> str:
    import sklearn

    return f"{MODEL_NAME}+sklearn-{sklearn.__version__}"


@dataclass(frozen=True)
class Series:
    """The views of n videos over W consecutive days; column W is the day D."""

    video_ids: np.ndarray  # int64 (n,), ascending
    first_day: date  # the day of column 0 (D - W)
    filled: np.ndarray  # float64 (n, W): views; a missing day carries the last known one; NaN before the first
    observed: np.ndarray  # bool (n, W): a stats row exists for that day
    published: np.ndarray  # int64 (n,): the local publish day as a column index (may be < 0)

    @property
    def days(self) -> int:
        return self.filled.shape[1]

    def history_days(self) -> np.ndarray:
        """Days from each video's first stats row in the window through D-1 (0: none)."""
        seen = self.observed.any(axis=1)
        return np.where(seen, self.days - self.observed.argmax(axis=1), 0)


def build_series(video_ids: np.ndarray, published: np.ndarray, stats: dict[str, np.ndarray],
                 first_day: date, days: int) -> Series:
    """Series from the repository's arrays: `published` relative to D, stats with `video_id`,
    `offset` (column) and `views`."""
    n = len(video_ids)
    rows = np.searchsorted(video_ids, stats["video_id"])
    known = rows < n
    known[known] = video_ids[rows[known]] == stats["video_id"][known]  # a video untracked in between
    rows, cols, views = rows[known], stats["offset"][known], stats["views"][known]
    if views.size and views.min() < 0:
        bad = stats["video_id"][known][views < 0][0]
        raise ValueError(f"negative views in videos.daily_stats for video {bad}")
    raw = np.full((n, days), np.nan)
    raw[rows, cols] = views
    observed = ~np.isnan(raw)
    # Forward fill along the days: the index of the last known column at or before each one.
    last = np.maximum.accumulate(np.where(observed, np.arange(days), 0), axis=1)
    filled = raw[np.arange(n)[:, None], last]
    return Series(video_ids, first_day, filled, observed, published.astype(np.int64) + days)


def features(filled: np.ndarray, t: int, first_weekday: int, published: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The feature rows for the target column `t` of every video, from columns < t.

    Returns (X (n, N_FEATURES), level (n,), valid (n,)); a row is valid when the 7 days
    before t are known.
    """
    n = filled.shape[0]
    last7 = filled[:, t - LAGS:t]
    valid = ~np.isnan(last7).any(axis=1)
    level = np.log1p(last7.mean(axis=1))  # NaN where not valid
    window = filled[:, max(0, t - LONG_WINDOW):t]
    known = ~np.isnan(window)
    mean28 = np.where(known, window, 0.0).sum(axis=1) / np.maximum(known.sum(axis=1), 1)
    X = np.empty((n, N_FEATURES))
    X[:, :LAGS] = np.log1p(last7[:, ::-1]) - level[:, None]  # lag1 first
    X[:, MEAN28] = np.log1p(mean28) - level
    X[:, LEVEL] = level
    X[:, DOW] = (first_weekday + t) % 7
    X[:, AGE] = np.log1p(np.maximum(t - published, 0))
    return X, level, valid


def training_set(series: Series, origin: int, train_days: int, max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of the targets in the `train_days` columns before `origin`, from every video
    (every k-th video, in id order, when that would exceed `max_rows`).

    X is float64 and C-contiguous, as HistGradientBoostingRegressor wants it, so the fit
    does not copy it: the peak memory is one X.
    """
    n = len(series.video_ids)
    stride = max(1, math.ceil(n * train_days / max_rows))
    rows = np.arange(0, n, stride)
    filled, observed, published = series.filled[rows], series.observed[rows], series.published[rows]
    weekday = series.first_day.weekday()
    targets = range(max(LAGS, origin - train_days), origin)
    X = np.empty((len(rows) * len(targets), N_FEATURES))
    y = np.empty(len(rows) * len(targets))
    count = 0
    for t in targets:
        features_t, level, valid = features(filled, t, weekday, published)
        use = valid & observed[:, t]
        used = int(use.sum())
        X[count:count + used] = features_t[use]
        y[count:count + used] = np.log1p(filled[use, t]) - level[use]
        count += used
    return X[:count], y[:count]


def fit(X: np.ndarray, y: np.ndarray):
    """The model on (X, y), with OpenMP held to one thread (see `single_thread`)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(
        learning_rate=0.1, max_iter=150, max_leaf_nodes=31, min_samples_leaf=40, l2_regularization=1.0,
        categorical_features=[DOW], early_stopping=False, random_state=RANDOM_STATE)
    with single_thread():
        return model.fit(X, y)


def single_thread():
    """One OpenMP thread for sklearn: a Celery worker runs several tasks on shared cores,
    where libgomp's spinning threads slow a fit down by 10-20x (measured: 1.7 s on one
    thread vs 28 s on two busy cores), and one thread also fixes the floating-point
    reduction order, so results do not depend on the machine's core count."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def forecast(model, series: Series, rows: np.ndarray, origin: int) -> np.ndarray:
    """Views of the HORIZON days from column `origin` for the videos `rows`, predicted
    recursively from the columns before `origin` (rounded, >= 0). Each row needs the 7 days
    before `origin` known."""
    if not len(rows):
        return np.empty((0, HORIZON))
    ext = np.full((len(rows), origin + HORIZON), np.nan)
    ext[:, :origin] = series.filled[rows, :origin]
    published, weekday = series.published[rows], series.first_day.weekday()
    for h in range(HORIZON):
        X, level, valid = features(ext, origin + h, weekday, published)
        if not valid.all():
            raise ValueError("forecast of a video without 7 known days before the origin")
        with single_thread():
            step = model.predict(X)
        ext[:, origin + h] = np.maximum(np.expm1(level + step), 0.0)
    return np.rint(ext[:, origin:])


def baseline(series: Series, rows: np.ndarray, origin: int) -> np.ndarray:
    """The trailing 7-day mean of the days before `origin` (over the known ones), repeated
    for the HORIZON days; NaN for a video with no known day there."""
    window = series.filled[rows, origin - HORIZON:origin]
    known = ~np.isnan(window)
    count = known.sum(axis=1)
    mean = np.where(known, window, 0.0).sum(axis=1) / np.maximum(count, 1)
    mean[count == 0] = np.nan
    return np.repeat(np.rint(mean)[:, None], HORIZON, axis=1)


def absolute_errors(series: Series, rows: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(|predicted - actual| with 0 where there is no actual, mask of actual days) over the
    held-out week D-7..D-1."""
    actual = series.filled[rows, -HORIZON:]
    known = series.observed[rows, -HORIZON:] & ~np.isnan(predicted)
    return np.where(known, np.abs(np.nan_to_num(predicted) - np.nan_to_num(actual)), 0.0), known


def mean_or_none(errors: np.ndarray, known: np.ndarray) -> list[float | None]:
    count = known.sum(axis=1)
    return [float(s / c) if c else None for s, c in zip(errors.sum(axis=1), count, strict=True)]


@dataclass(frozen=True)
class Forecast:
    rows: list[repo.PredictionRow]
    training_rows: int
    no_recent_stats: int  # tracked videos without any stats row in the window
    backtest_mae_model: float | None  # pooled over the model videos' held-out days
    backtest_mae_baseline: float | None  # the baseline on the same videos and days
    backtest_days: int


def forecast_series(series: Series, *, min_history_days: int, train_days: int, max_train_rows: int) -> Forecast:
    """The predictions of every video of `series` (pure computation, no I/O)."""
    W = series.days
    history = series.history_days()
    has_stats = history > 0
    use_model = history >= min_history_days
    version = model_version()

    model_rows = np.flatnonzero(use_model)
    model_preds = np.empty((0, HORIZON))
    bt_model = bt_base = bt_known = None
    training_rows = 0
    if model_rows.size:
        # The backtest model first, then the live one: one training set in memory at a time.
        X, y = training_set(series, W - HORIZON, train_days, max_train_rows)
        if len(y) >= MIN_TRAIN_ROWS:
            backtest = forecast(fit(X, y), series, model_rows, W - HORIZON)
            del X, y
            X, y = training_set(series, W, train_days, max_train_rows)
        training_rows = len(y)
        if training_rows < MIN_TRAIN_ROWS:
            log.warning("%d training rows (< %d): every video gets the baseline", training_rows, MIN_TRAIN_ROWS)
            use_model[:] = False
            model_rows = model_rows[:0]
        else:
            bt_model, bt_known = absolute_errors(series, model_rows, backtest)
            bt_base, _ = absolute_errors(series, model_rows, baseline(series, model_rows, W - HORIZON))
            model_preds = forecast(fit(X, y), series, model_rows, W)
        del X, y

    base_rows = np.flatnonzero(has_stats & ~use_model)
    base_preds = baseline(series, base_rows, W)
    base_bt, base_known = absolute_errors(series, base_rows, baseline(series, base_rows, W - HORIZON))

    out: list[repo.PredictionRow] = []
    if model_rows.size:
        for i, preds, mae, base_mae in zip(model_rows, model_preds, mean_or_none(bt_model, bt_known),
                                           mean_or_none(bt_base, bt_known), strict=True):
            out.append(repo.PredictionRow(int(series.video_ids[i]), version, "model",
                                          [int(v) for v in preds], mae, base_mae))
    for i, preds, base_mae in zip(base_rows, base_preds, mean_or_none(base_bt, base_known), strict=True):
        out.append(repo.PredictionRow(int(series.video_ids[i]), BASELINE_VERSION, "baseline",
                                      [int(v) for v in preds], None, base_mae))
    out.sort(key=lambda r: r.video_id)

    days = int(bt_known.sum()) if bt_known is not None else 0
    return Forecast(
        rows=out, training_rows=training_rows, no_recent_stats=int((~has_stats).sum()),
        backtest_mae_model=float(bt_model.sum() / days) if days else None,
        backtest_mae_baseline=float(bt_base.sum() / days) if days else None,
        backtest_days=days,
    )


def window_days(min_history_days: int, train_days: int) -> int:
    """Days of history read: the training targets of the backtest origin (D-7) with their
    28-day features, and at least `min_history_days`."""
    return max(train_days + HORIZON + LONG_WINDOW, min_history_days)


def predict_views(conn: psycopg.Connection, day_start: datetime, *, min_history_days: int = 28,
                  train_days: int = 84, max_train_rows: int = 400_000) -> dict:
    """Forecast the views of every `success` video for D .. D+6 (D: the local day starting at
    the aware `day_start`, whose zone gives the videos' local publish days) from the stats up
    to D-1, and make `videos.predictions` of D exactly those rows (committed here).
    Returns the receipt: counts, the pooled backtest MAE of the model and the baseline."""
    if min_history_days < LAGS + HORIZON:
        raise ValueError(f"min_history_days must be >= {LAGS + HORIZON} (7 days of lags before the "
                         f"backtest week), got {min_history_days!r}")
    if train_days < HORIZON:
        raise ValueError(f"train_days must be >= {HORIZON}, got {train_days!r}")
    if max_train_rows < MIN_TRAIN_ROWS:
        raise ValueError(f"max_train_rows must be >= {MIN_TRAIN_ROWS}, got {max_train_rows!r}")
    if day_start.tzinfo is None:
        raise ValueError(f"day_start must be time-zone aware, got {day_start!r}")
    day = day_start.date()
    W = window_days(min_history_days, train_days)
    first_day = day - timedelta(days=W)
    videos = repo.tracked_videos(conn, day_start)
    stats = repo.stats_window(conn, first_day, day)
    series = build_series(videos["id"], videos["published"], stats, first_day, W)
    del stats
    result = forecast_series(series, min_history_days=min_history_days, train_days=train_days,
                             max_train_rows=max_train_rows)
    written, deleted = repo.replace_predictions(conn, day, result.rows)
    conn.commit()
    by_method = {"model": 0, "baseline": 0}
    for r in result.rows:
        by_method[r.method] += 1
    receipt = {
        "made_for": day.isoformat(), "history_from": first_day.isoformat(), "model_version": model_version(),
        "videos": len(series.video_ids), "model": by_method["model"], "baseline": by_method["baseline"],
        "no_recent_stats": result.no_recent_stats, "training_rows": result.training_rows,
        "backtest_days": result.backtest_days, "backtest_mae_model": result.backtest_mae_model,
        "backtest_mae_baseline": result.backtest_mae_baseline, "written": written, "deleted": deleted,
    }
    log.info("predictions for %s: %s", day, receipt)
    return receipt
