"""videos_ml_predictions at scale: 10k videos x 180 days of history, one run of
include/videos/predictions.predict_views, timed, with this process's peak RSS.

On a fresh app database, the history is generated in SQL with generate_series (no rows
through Python): 10,000 `success` videos; 9,000 with 180 days before D, 1,000 recent
launches with 5..30 days (some get the baseline); views = level x weekday factor x
trend^age x (1 + 25% noise), with per-video level (~20 to ~20,000 a day), trend (-0.5% to
+1% a day) and weekday pattern (weekend high, a few videos weekday high), noise from
setseed'ed random() so every run of the benchmark has the same history.

Then predict_views for D (history up to D-1): one binary COPY of the window, two fits (the
backtest's and the live one), two 7-day recursive forecasts, the baseline, COPY + one merge.
Reported: the job's wall time, the whole process's peak RSS (the harness), the phases' rows,
and the pooled backtest MAE of the model and of the naive trailing 7-day mean on the same
videos and days.

Goals: under 2 minutes, peak RSS under 500 MB, the model's backtest MAE below the
baseline's.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from bench._harness import bench_database, main, peak_rss_mb, say

NAME = "videos_predictions"
VIDEOS, DAYS, LAUNCHES = 10_000, 180, 1_000
D = date(2026, 6, 1)  # the data interval's day: history ends D-1
GOAL_SECONDS, GOAL_RSS_MB = 120.0, 500.0


def generate_history(dsn: str) -> dict:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO videos.creators (id, name, email, channel_id) "
                     "SELECT c, 'creator ' || c, 'bench' || c || '@example.com', 'UCbench' || c "
                     "FROM generate_series(1, 100) c")
        # Recent launches (the last LAUNCHES ids) start 5..30 days before D.
        conn.execute("""
            INSERT INTO videos.videos (id, creator_id, platform_id, title, published_at)
            SELECT v, 1 + v %% 100, 'bench' || v, 'video ' || v,
                   (%(d)s::date - CASE WHEN v > %(n)s - %(launches)s THEN 5 + v %% 26 ELSE %(days)s + v %% 90 END)
                   ::timestamptz
              FROM generate_series(1, %(n)s) v""",
                     {"d": D, "n": VIDEOS, "launches": LAUNCHES, "days": DAYS})
        conn.execute("SELECT setseed(0.42)")
        rows = conn.execute("""
            INSERT INTO videos.daily_stats (video_id, day, views, likes, comments, shares, watch_minutes)
            SELECT v.id, d::date, x.views, x.views / 25, x.views / 400, x.views / 300, x.views * 3
              FROM videos.videos v
             CROSS JOIN LATERAL generate_series(greatest(v.published_at::date, %(d)s::date - %(days)s),
                                                %(d)s::date - 1, '1 day') d
             CROSS JOIN LATERAL (SELECT round(
                    exp(3 + 7 * ((v.id * 7919) %% 1000) / 1000.0)                        -- level
                  * CASE WHEN v.id %% 10 = 0                                               -- weekday high
                         THEN (ARRAY[1.2, 1.2, 1.1, 1.1, 1.0, 0.7, 0.7])[extract(isodow FROM d)::int]
                         ELSE (ARRAY[0.9, 0.85, 0.9, 0.95, 1.05, 1.3, 1.4])[extract(isodow FROM d)::int] END
                  * exp((-0.005 + 0.015 * ((v.id * 104729) %% 1000) / 1000.0)              -- trend
                        * (d::date - (%(d)s::date - %(days)s)))
                  * (0.75 + 0.5 * random()))::bigint AS views) x""", {"d": D, "days": DAYS}).rowcount
        conn.execute("ANALYZE videos.daily_stats")
        conn.execute("ANALYZE videos.videos")
    seconds = time.perf_counter() - started
    say(f"history: {rows:,} rows in {seconds:.1f} s")
    return {"rows": rows, "seconds": round(seconds, 1)}


def run() -> dict:
    import psycopg

    from include.videos.predictions import predict_views

    failures: list[str] = []
    with bench_database() as dsn:
        history = generate_history(dsn)
        with psycopg.connect(dsn) as conn:
            started = time.perf_counter()
            receipt = predict_views(conn, datetime(D.year, D.month, D.day, tzinfo=UTC))
            seconds = time.perf_counter() - started
            stored = conn.execute("SELECT count(*), count(*) FILTER (WHERE method = 'baseline') "
                                  "FROM videos.predictions WHERE made_for = %s", (D,)).fetchone()
    rss = peak_rss_mb()
    say(f"predict_views: {seconds:.1f} s, peak RSS {rss} MB, {receipt}")
    model_mae, baseline_mae = receipt["backtest_mae_model"], receipt["backtest_mae_baseline"]
    if seconds > GOAL_SECONDS:
        failures.append(f"predict_views took {seconds:.1f} s, goal under {GOAL_SECONDS:g} s")
    if rss > GOAL_RSS_MB:
        failures.append(f"peak RSS {rss} MB, goal under {GOAL_RSS_MB:g} MB")
    if stored[0] != VIDEOS or receipt["written"] != VIDEOS:
        failures.append(f"{stored[0]} prediction rows stored ({receipt['written']} written), expected {VIDEOS}")
    if model_mae is None or baseline_mae is None or not model_mae < baseline_mae:
        failures.append(f"the model's backtest MAE {model_mae} does not beat the baseline's {baseline_mae}")
    return {
        "summary": [
            ["history generated in SQL (rows)", history["rows"], "rows"],
            [f"predict_views, {VIDEOS:,} videos x {DAYS} days", round(seconds, 1), "s"],
            ["videos on the model / on the baseline", f"{receipt['model']:,} / {receipt['baseline']:,}", ""],
            ["training rows (live model)", receipt["training_rows"], "rows"],
            ["backtest MAE, model (hgb-lag7-v1)", round(model_mae, 1) if model_mae is not None else "-", "views/day"],
            ["backtest MAE, naive trailing 7-day mean", round(baseline_mae, 1) if baseline_mae is not None else "-",
             "views/day"],
            ["model MAE / baseline MAE", round(model_mae / baseline_mae, 3) if model_mae and baseline_mae else "-",
             "x"],
        ],
        "details": {"history": history, "predict_seconds": round(seconds, 2), "receipt": receipt,
                    "goals": {"seconds": GOAL_SECONDS, "peak_rss_mb": GOAL_RSS_MB}},
        "failures": failures,
    }


if __name__ == "__main__":
    main(NAME, run)
