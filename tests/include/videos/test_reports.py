"""The daily AI reports against a real database and the sandbox's chat-completions API:
facts from hand-built stats, predictions and keywords; LLM narratives kept only when their
numbers are the facts'; the template and its reason otherwise; one email per creator."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from PIL import Image

from include.common.email import inline_images_of
from include.common.http import ApiClient
from include.videos import reports
from include.videos.llm_client import ChatClient
from include.videos.repository import reports as repository

D = date(2026, 6, 10)
DAY_END = datetime(2026, 6, 11, tzinfo=UTC)  # D ends at midnight UTC
PUBLISHED = datetime(2026, 1, 1, tzinfo=UTC)
WEEK_BEFORE = [900, 1100, 1000, 950, 1050, 1000, 1000]  # D-7 .. D-1: mean 1,000


@pytest.fixture(scope="module")
def catalogue(videos_db) -> dict:
    """Creator A: `food` (30 days of stats, predictions, 6 keywords), `young` (stats on D-1
    (0 views) and D only), `quiet` (no stats on D), `broken` (failed), `future` (published
    after D). Creator B: `invent`, whose title asks the sandbox LLM to invent a number.
    Creator C: only a failed video."""
    with psycopg.connect(videos_db) as conn:
        def creator(name):
            return conn.execute("INSERT INTO videos.creators (name, email, channel_id) VALUES (%s, %s, %s) "
                                "RETURNING id", (name, f"{name.lower()}@creators.test", f"UC{name}")).fetchone()[0]

        def video(creator_id, key, title, status="success", published=PUBLISHED):
            return conn.execute("INSERT INTO videos.videos (creator_id, platform_id, title, status, published_at) "
                                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                                (creator_id, f"yt-{key}", title, status, published)).fetchone()[0]

        a, b, c = creator("Ada"), creator("Bo"), creator("Cy")
        ids = {"food": video(a, "food", "Street food tour"), "young": video(a, "young", "Second video"),
               "quiet": video(a, "quiet", "Quiet video"), "broken": video(a, "broken", "Broken", "failed"),
               "future": video(a, "future", "Future", published=datetime(2026, 6, 11, tzinfo=UTC)),
               "invent": video(b, "invent", "Mystery [sandbox:invent]"), "c_failed": video(c, "cf", "Gone", "failed")}
        food = [(D - timedelta(days=back), 500) for back in range(29, 7, -1)]
        food += [(D - timedelta(days=7 - i), views) for i, views in enumerate(WEEK_BEFORE)]
        stats = [(ids["food"], day, views, 20, 5, 5, 100) for day, views in food]
        stats += [(ids["food"], D, 1250, 50, 12, 13, 4000),
                  (ids["young"], D - timedelta(days=1), 0, 0, 0, 0, 0), (ids["young"], D, 100, 1, 0, 0, 30),
                  (ids["quiet"], D - timedelta(days=2), 70, 1, 1, 1, 10),
                  (ids["broken"], D, 999, 9, 9, 9, 9), (ids["future"], D, 999, 9, 9, 9, 9),
                  (ids["invent"], D - timedelta(days=1), 200, 4, 2, 2, 50), (ids["invent"], D, 300, 6, 3, 3, 80)]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO videos.daily_stats (video_id, day, views, likes, comments, shares, "
                            "watch_minutes) VALUES (%s, %s, %s, %s, %s, %s, %s)", stats)
            cur.executemany("INSERT INTO videos.predictions (video_id, made_for, model_version, method, "
                            "predicted_views) VALUES (%s, %s, %s, %s, %s)",
                            [(ids["food"], D - timedelta(days=3), "m1", "baseline", [10] * 7),
                             (ids["food"], D, "m2", "model", [100, 110, 120, 130, 140, 150, 160]),
                             (ids["food"], D + timedelta(days=1), "m3", "model", [1] * 7)])
            cur.executemany("INSERT INTO videos.video_keywords (video_id, keyword, score, rank, computed_for) "
                            "VALUES (%s, %s, %s, %s, %s)",
                            [(ids["food"], f"kw{rank}", 1.0 / rank, rank, D) for rank in (6, 3, 1, 5, 2, 4)])
    return {"ids": ids, "creators": {"A": a, "B": b, "C": c}}


@pytest.fixture
def db(videos_db, catalogue):
    """The catalogue with no reports and an empty outbox."""
    with psycopg.connect(videos_db) as conn:
        conn.execute("TRUNCATE videos.daily_reports, platform.outbox")
    return videos_db


@pytest.fixture
def chat_clients(session_env, sandbox):
    sandbox.reset_faults()
    sandbox.clear_requests()
    clients = [ChatClient(ApiClient(f"http://127.0.0.1:{session_env['http_port']}",
                                    headers={"Authorization": "Bearer test-key"}, max_attempts=2,
                                    sleep=lambda seconds: None), "sandbox-small") for _ in range(2)]
    yield clients
    for client in clients:
        client.close()
    sandbox.reset_faults()


def _generate(dsn, **kwargs) -> dict:
    with psycopg.connect(dsn) as conn:
        return reports.generate_daily_reports(conn, D, DAY_END, **kwargs)


def _reports(dsn) -> dict[int, dict]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT video_id, facts, narrative, narrative_source, fallback_reason "
                            "FROM videos.daily_reports WHERE day = %s", (D,)).fetchall()
    return {r[0]: {"facts": r[1], "narrative": r[2], "source": r[3], "reason": r[4]} for r in rows}


def _outbox(dsn) -> dict[str, dict]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT dedupe_key, recipient, subject, body_text, body_html, payload "
                            "FROM platform.outbox").fetchall()
    return {r[0]: {"recipient": r[1], "subject": r[2], "text": r[3], "html": r[4], "payload": r[5]} for r in rows}


def test_facts_of_hand_built_videos(db, catalogue):
    ids, creators = catalogue["ids"], catalogue["creators"]
    with psycopg.connect(db) as conn:
        rows = repository.video_facts(conn, creators["A"], creators["C"] + 1, D, DAY_END)
    by_video = {r["video_id"]: r for r in rows}
    assert set(by_video) == {ids["food"], ids["young"], ids["quiet"], ids["invent"]}
    food = by_video[ids["food"]]
    assert (food["creator_id"], food["creator_email"], food["platform_id"]) == (creators["A"], "ada@creators.test",
                                                                               "yt-food")
    assert food["facts"] == {
        "day": "2026-06-10", "title": "Street food tour", "language": "en",
        "views": 1250, "likes": 50, "comments": 12, "shares": 13, "watch_minutes": 4000,
        "views_prev_day": 1000, "change_prev_day": 250, "change_prev_day_pct": 25.0,
        "mean_7d": 1000.0, "days_in_mean_7d": 7, "change_vs_mean_7d": 250.0, "change_vs_mean_7d_pct": 25.0,
        "engagement_rate": 0.06,
        "prediction": {"made_for": "2026-06-10", "method": "model", "model_version": "m2", "next_7_days_views": 910},
        "keywords": ["kw1", "kw2", "kw3", "kw4", "kw5"],
    }
    assert food["views_series"] == [500] * 22 + WEEK_BEFORE + [1250]
    young = by_video[ids["young"]]["facts"]
    assert (young["views"], young["change_prev_day"], young["change_prev_day_pct"]) == (100, 100, None)
    assert (young["mean_7d"], young["days_in_mean_7d"], young["change_vs_mean_7d_pct"]) == (0.0, 1, None)
    assert (young["engagement_rate"], young["prediction"], young["keywords"]) == (0.01, None, [])
    assert by_video[ids["young"]]["views_series"] == [None] * 28 + [0, 100]
    quiet = by_video[ids["quiet"]]
    assert quiet["facts"]["views"] is None and quiet["facts"]["change_prev_day"] is None
    assert quiet["views_series"][27] == 70
    invent = by_video[ids["invent"]]["facts"]
    assert (invent["change_prev_day"], invent["change_prev_day_pct"]) == (100, 50.0)
    assert (invent["mean_7d"], invent["change_vs_mean_7d"], invent["change_vs_mean_7d_pct"]) == (200.0, 100.0, 50.0)


def test_llm_narratives_are_kept_invented_numbers_fall_back(db, catalogue, chat_clients, sandbox):
    ids, creators = catalogue["ids"], catalogue["creators"]
    receipt = _generate(db, chat_clients=chat_clients, batch_size=1)
    assert receipt == {"day": "2026-06-10", "videos": 4, "reports_written": 4, "reports_deleted": 0,
                       "narratives": {"llm": 2, "template": 2},
                       "fallbacks": {"no stats for the day": 1, "invented numbers": 1},
                       "emails_queued": 2, "emails_already_queued": 0, "batches": 2}
    stored = _reports(db)
    assert set(stored) == {ids["food"], ids["young"], ids["quiet"], ids["invent"]}
    food = stored[ids["food"]]
    assert food["source"] == "llm" and food["reason"] is None
    assert "1,250" in food["narrative"] and "2026" in food["narrative"]  # the sandbox repeats prompt numbers
    assert stored[ids["young"]]["source"] == "llm"
    quiet = stored[ids["quiet"]]
    assert (quiet["source"], quiet["reason"]) == ("template", "no stats for the day")
    invent = stored[ids["invent"]]
    assert invent["source"] == "template" and invent["reason"].startswith("invented numbers: ")
    assert invent["narrative"].startswith("\u201cMystery [sandbox:invent]\u201d had 300 views on 2026-06-10.")
    # one call per video with stats on D (not for `quiet`)
    assert len([r for r in sandbox.requests("llm") if r["path"] == "/v1/chat/completions"]) == 3

    mails = _outbox(db)
    assert set(mails) == {f"videos-report:{creators['A']}:2026-06-10", f"videos-report:{creators['B']}:2026-06-10"}
    ada = mails[f"videos-report:{creators['A']}:2026-06-10"]
    assert ada["recipient"] == "ada@creators.test"
    assert ada["subject"] == "Your videos on 2026-06-10: 1,350 views"
    # the 30-day chart: one PNG part, shown by its cid (no SVG: Gmail and Outlook strip it)
    [chart] = inline_images_of(ada["payload"])
    assert "<svg" not in ada["html"] and ada["html"].count('src="cid:') == 1
    assert f'src="cid:{chart.cid}"' in ada["html"] and chart.mime == "image/png" and len(chart.data) < 60 * 1024
    assert Image.open(io.BytesIO(chart.data)).size == (1120, 360)
    assert "max 1,350 views/day" in ada["html"] and "2026-05-12" in ada["html"]  # the image's alt text
    # its numbers are in the text part too, day by day (D-29: food only; D-2: food + quiet)
    assert "  2026-05-12  500\n" in ada["text"] and "  2026-06-08  1,070\n" in ada["text"]
    assert "  2026-06-10  1,350\n" in ada["text"]
    assert ">19,250</td>" in ada["html"] and ">100</td>" in ada["html"]  # views of the last 30 days per video
    assert food["narrative"] in ada["text"] and "+250 (+25.00%)" in ada["text"]
    assert "No statistics yet for 2026-06-10: Quiet video." in ada["text"]
    assert ada["text"].index("Street food tour") < ada["text"].index("Second video")  # most viewed first


def test_rerun_replaces_the_day_and_queues_no_second_email(db, catalogue, chat_clients):
    ids = catalogue["ids"]
    first = _generate(db, chat_clients=chat_clients)
    again = _generate(db, chat_clients=chat_clients)
    assert (again["reports_written"], again["emails_queued"], again["emails_already_queued"]) == (0, 0, 2)
    assert _reports(db).keys() == {ids["food"], ids["young"], ids["quiet"], ids["invent"]}
    assert first["batches"] == again["batches"] == 1
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE videos.daily_stats SET views = 1300 WHERE video_id = %s AND day = %s", (ids["food"], D))
        conn.execute("UPDATE videos.videos SET status = 'failed' WHERE id = %s", (ids["young"],))
    try:
        changed = _generate(db, chat_clients=chat_clients)
        stored = _reports(db)
    finally:
        with psycopg.connect(db) as conn:
            conn.execute("UPDATE videos.daily_stats SET views = 1250 WHERE video_id = %s AND day = %s",
                         (ids["food"], D))
            conn.execute("UPDATE videos.videos SET status = 'success' WHERE id = %s", (ids["young"],))
    assert (changed["reports_written"], changed["reports_deleted"], changed["emails_queued"]) == (1, 1, 0)
    assert stored.keys() == {ids["food"], ids["quiet"], ids["invent"]}
    assert stored[ids["food"]]["facts"]["views"] == 1300 and stored[ids["food"]]["facts"]["change_prev_day"] == 300
    assert len(_outbox(db)) == 2


def test_llm_5xx_storm_falls_back_to_the_template_with_the_reason(db, catalogue, chat_clients, sandbox):
    ids = catalogue["ids"]
    sandbox.set_faults("llm", status_5xx=10)  # more than 3 videos x 2 attempts
    receipt = _generate(db, chat_clients=chat_clients)
    assert receipt["narratives"] == {"template": 4}
    assert receipt["fallbacks"] == {"llm error": 3, "no stats for the day": 1}
    food = _reports(db)[ids["food"]]
    assert food["source"] == "template"
    assert food["reason"].startswith("llm error: POST http://127.0.0.1:")
    assert "gave up after 2 attempts" in food["reason"]
    assert food["narrative"].startswith("\u201cStreet food tour\u201d had 1,250 views on 2026-06-10.")
    assert len(_outbox(db)) == 2  # the emails go out with the template narratives


def test_without_an_llm_every_narrative_is_the_template(db, catalogue):
    ids = catalogue["ids"]
    receipt = _generate(db, no_llm_reason="no llm_default connection")
    assert receipt["fallbacks"] == {"no llm_default connection": 3, "no stats for the day": 1}
    food = _reports(db)[ids["food"]]
    assert (food["source"], food["reason"]) == ("template", "no llm_default connection")
    assert food["narrative"] == (
        "\u201cStreet food tour\u201d had 1,250 views on 2026-06-10. That is +250 (+25.00%) against the day "
        "before (1,000 views). Against the mean of the 7 days before (1,000.0 views a day) it is +250.0 "
        "(+25.00%). Engagement rate was 6.00% (50 likes, 12 comments, 13 shares). The latest forecast "
        "(model, made for 2026-06-10) expects 910 views over the next 7 days. Top keywords: kw1, kw2, kw3, "
        "kw4, kw5.")


def test_soft_time_limit_stops_between_batches_keeping_the_finished_ones(db, catalogue):
    from include.common.time_budget import SoftTimeLimitExceeded, TimeBudget

    ticks = iter(range(0, 1000, 6))  # every look at the clock takes 6 s: a batch "lasts" 12 s
    budget = TimeBudget(15, clock=lambda: next(ticks))
    with pytest.raises(SoftTimeLimitExceeded, match="1 of 2 batches done"):
        _generate(db, no_llm_reason="no llm_default connection", batch_size=1, budget=budget)
    ids, creators = catalogue["ids"], catalogue["creators"]
    assert _reports(db).keys() == {ids["food"], ids["young"], ids["quiet"]}  # creator A's batch
    assert set(_outbox(db)) == {f"videos-report:{creators['A']}:2026-06-10"}


def test_the_report_day_comes_from_the_interval_as_local_days():
    from zoneinfo import ZoneInfo

    from include.orchestration.schedules import LocalDays

    # the 18:00 run of June 11 covers [June 10 18:00, June 11 18:00): D = June 10
    start, end = datetime(2026, 6, 10, 18, 0, tzinfo=UTC), datetime(2026, 6, 11, 18, 0, tzinfo=UTC)
    assert LocalDays.of(start, end, "UTC").first == date(2026, 6, 10)
    shanghai = LocalDays.of(start, end, ZoneInfo("Asia/Shanghai"))
    assert shanghai.first == date(2026, 6, 11)  # 02:00 there
    assert shanghai.bounds(D)[1] == datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        reports.generate_daily_reports(None, D, datetime(2026, 6, 11))
