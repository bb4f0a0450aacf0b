"""The views forecasts against a real PostgreSQL database: histories built here where the
right answer is known (constant, strictly weekly, short), determinism and idempotence, the
model beating the naive baseline's backtest on synthetic and on the demo data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import pytest

from include.videos import predictions
from include.videos.predictions import BASELINE_VERSION, predict_views

D = date(2026, 6, 10)  # the data interval's day: history ends D-1, predictions are D..D+6


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@pytest.fixture
def conn(videos_db):
    """A connection to an emptied videos schema (every test builds its own catalogue)."""
    with psycopg.connect(videos_db) as conn:
        conn.execute("TRUNCATE videos.creators, videos.videos, videos.daily_stats, videos.predictions CASCADE")
        conn.execute("INSERT INTO videos.creators (id, name, email, channel_id) VALUES (1, 'c', 'c@x.test', 'UCx')")
        conn.commit()
        yield conn


def add_video(conn, video_id: int, views: list[int] | np.ndarray, *, last_day: date = D - timedelta(days=1),
              status: str = "success", published: date | None = None) -> None:
    """A video whose daily views end on `last_day` (a negative entry = no stats row that day)."""
    first_day = last_day - timedelta(days=len(views) - 1)
    published = published or first_day
    conn.execute("INSERT INTO videos.videos (id, creator_id, platform_id, title, status, published_at) "
                 "VALUES (%s, 1, %s, 't', %s, %s)",
                 (video_id, f"v{video_id}", status, datetime(published.year, published.month, published.day,
                                                              tzinfo=UTC)))
    with conn.cursor().copy("COPY videos.daily_stats (video_id, day, views, likes, comments, shares, watch_minutes)"
                            " FROM STDIN") as copy:
        for n, value in enumerate(views):
            if value >= 0:
                copy.write_row((video_id, first_day + timedelta(days=n), int(value), 0, 0, 0, 0))
    conn.commit()


def stored(conn, day: date = D) -> dict[int, tuple]:
    rows = conn.execute("SELECT video_id, method, model_version, predicted_views, backtest_mae, baseline_mae "
                        "FROM videos.predictions WHERE made_for = %s ORDER BY video_id", (day,)).fetchall()
    return {r[0]: r[1:] for r in rows}


def weekly_factor(day: date) -> float:
    return (0.7, 0.8, 0.9, 1.0, 1.1, 1.6, 1.9)[day.weekday()]


def synthetic(n: int, days: int, *, seed: int, noise: bool = True) -> np.ndarray:
    """Views of n videos over `days` days ending D-1: weekly seasonality, per-video trend
    and level, Poisson noise on top of a 10% multiplicative noise."""
    rng = np.random.default_rng(seed)
    level = np.exp(rng.uniform(3, 8, n))
    trend = rng.normal(0.005, 0.01, n)
    t = np.arange(days)
    weekly = np.array([weekly_factor(D - timedelta(days=days - i)) for i in range(days)])
    mean = level[:, None] * weekly[None, :] * np.exp(trend[:, None] * (t - days)[None, :])
    if not noise:
        return np.rint(mean).astype(np.int64)
    return rng.poisson(mean * rng.lognormal(0, 0.1, mean.shape))


def test_constant_series_predicts_the_constant(conn):
    for video_id, value in ((1, 10), (2, 100), (3, 5000)):
        add_video(conn, video_id, [value] * 120)
    receipt = predict_views(conn, midnight(D))
    rows = stored(conn)
    assert receipt["model"] == 3 and receipt["baseline"] == 0
    for video_id, value in ((1, 10), (2, 100), (3, 5000)):
        method, version, views, backtest_mae, baseline_mae = rows[video_id]
        assert (method, views, backtest_mae, baseline_mae) == ("model", [value] * 7, 0.0, 0.0)
        assert version == predictions.model_version() and version.startswith("hgb-lag7-v1+sklearn-")
    assert receipt["backtest_mae_model"] == 0.0 and receipt["backtest_mae_baseline"] == 0.0


def test_weekly_series_is_learnt_and_beats_the_baseline(conn):
    views = synthetic(40, 150, seed=7, noise=False)
    for n, series in enumerate(views, 1):
        add_video(conn, n, series)
    receipt = predict_views(conn, midnight(D))
    rows = stored(conn)
    assert receipt["model"] == 40
    assert receipt["backtest_mae_model"] < 0.2 * receipt["backtest_mae_baseline"]
    # The forecast follows the weekly shape: the exact next week within 10%.
    rng = np.random.default_rng(7)
    level, trend = np.exp(rng.uniform(3, 8, 40)), rng.normal(0.005, 0.01, 40)
    for n in (1, 17, 40):
        expected = [level[n - 1] * weekly_factor(D + timedelta(days=h)) * np.exp(trend[n - 1] * h)
                    for h in range(7)]
        assert np.allclose(rows[n][2], expected, rtol=0.1), (n, rows[n][2], expected)
        assert rows[n][3] < rows[n][4]  # the video's own backtest beats its baseline


def test_short_history_gets_the_baseline_marked(conn):
    add_video(conn, 1, [100] * 60)  # enough history: the model is trained on it
    add_video(conn, 2, list(range(1, 21)))  # 20 days < 28: baseline
    add_video(conn, 3, [5, 6, -1, 9])  # 4 days with a gap: the gap carries 6 forward
    add_video(conn, 4, [50] * 40, last_day=D - timedelta(days=130))  # stats only before the window
    add_video(conn, 5, [100] * 60, status="failed")  # not tracked
    add_video(conn, 6, [7] * 27 + [1000], last_day=D)  # D's own row is not history yet: 27 days
    receipt = predict_views(conn, midnight(D))
    rows = stored(conn)
    assert set(rows) == {1, 2, 3, 6}
    assert rows[1][0] == "model"
    # Trailing mean of days 14..20 is 17; the backtest baseline (mean of 7..13 = 10) is off
    # by 4..10 on the held-out days 14..20: MAE 7.
    assert rows[2] == ("baseline", BASELINE_VERSION, [17] * 7, None, 7.0)
    # Days 5, 6, (6), 9 -> mean 6.5 rounds to 6 (half to even); no day before D-7: no MAE.
    assert rows[3] == ("baseline", BASELINE_VERSION, [6] * 7, None, None)
    assert rows[6] == ("baseline", BASELINE_VERSION, [7] * 7, None, 0.0)
    assert receipt["no_recent_stats"] == 1 and receipt["videos"] == 5


def test_min_history_days_is_the_threshold(conn):
    add_video(conn, 1, [100] * 60)
    add_video(conn, 2, [30] * 27)
    add_video(conn, 3, [40] * 28)
    predict_views(conn, midnight(D), min_history_days=28)
    rows = stored(conn)
    assert (rows[2][0], rows[3][0]) == ("baseline", "model")
    assert rows[3][2] == [40] * 7
    with pytest.raises(ValueError, match="min_history_days must be >= 14"):
        predict_views(conn, midnight(D), min_history_days=7)


def test_rerun_is_deterministic_and_writes_nothing(conn):
    for n, series in enumerate(synthetic(60, 140, seed=3), 1):
        add_video(conn, n, series)
    first = predict_views(conn, midnight(D))
    rows = stored(conn)
    xmins = conn.execute("SELECT video_id, xmin::text FROM videos.predictions").fetchall()
    second = predict_views(conn, midnight(D))
    assert stored(conn) == rows
    assert conn.execute("SELECT video_id, xmin::text FROM videos.predictions").fetchall() == xmins
    assert first["written"] == 60 and second["written"] == 0 and second["deleted"] == 0
    assert {k: v for k, v in first.items() if k not in ("written",)} == \
        {k: v for k, v in second.items() if k not in ("written",)}

    # A video no longer tracked loses its row of D on the next run; other days are kept.
    predict_views(conn, midnight(D - timedelta(days=1)))
    conn.execute("UPDATE videos.videos SET status = 'failed' WHERE id = 5")
    conn.commit()
    third = predict_views(conn, midnight(D))
    assert third["deleted"] == 1 and 5 not in stored(conn)
    assert 5 in stored(conn, D - timedelta(days=1))


def test_model_beats_the_baseline_on_weekly_trending_data(conn):
    for n, series in enumerate(synthetic(200, 150, seed=11), 1):
        add_video(conn, n, series)
    receipt = predict_views(conn, midnight(D))
    assert receipt["model"] == 200 and receipt["backtest_days"] == 200 * 7
    assert receipt["backtest_mae_model"] < 0.8 * receipt["backtest_mae_baseline"], receipt


def test_model_beats_the_baseline_on_the_demo_data(conn):
    from include.demo import videos_seed

    conn.execute("TRUNCATE videos.creators CASCADE")
    videos_seed.seed(conn, 2, today=D)  # history ends D-1
    conn.commit()
    receipt = predict_views(conn, midnight(D))
    assert receipt["model"] > 50 and receipt["backtest_days"] > 50 * 7
    assert receipt["backtest_mae_model"] < receipt["backtest_mae_baseline"], receipt


def test_history_is_read_as_arrays_in_one_pass(conn):
    """The binary COPY decoder against what the rows say."""
    add_video(conn, 7, [3, -1, 5])
    first = D - timedelta(days=10)
    stats = predictions.repo.stats_window(conn, first, D)
    assert stats["video_id"].tolist() == [7, 7] and stats["offset"].tolist() == [7, 9]
    assert stats["views"].tolist() == [3, 5] and stats["views"].dtype == np.int64
    videos = predictions.repo.tracked_videos(conn, midnight(D))
    assert videos["id"].tolist() == [7] and videos["published"].tolist() == [-3]
    # Published at 00:00 UTC: the evening before in New York.
    new_york = datetime.combine(D, datetime.min.time(), ZoneInfo("America/New_York"))
    assert predictions.repo.tracked_videos(conn, new_york)["published"].tolist() == [-4]
