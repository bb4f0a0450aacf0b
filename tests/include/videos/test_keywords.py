"""Keyword extraction (English with YAKE, Chinese with jieba) and the per-keyword
performance, against a real PostgreSQL database with hand-built videos and stats."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from include.common.time_budget import SoftTimeLimitExceeded, TimeBudget
from include.videos.keywords import analyse_keywords, video_keywords
from include.videos.repository.keywords import VideoText

D = date(2026, 6, 10)  # the data interval's day: performance over D-6..D vs D-13..D-7


def budget() -> TimeBudget:
    return TimeBudget(600)


@pytest.fixture
def conn(videos_db):
    with psycopg.connect(videos_db) as conn:
        conn.execute("TRUNCATE videos.creators, videos.videos, videos.video_keywords, "
                     "videos.keyword_performance CASCADE")
        conn.execute("INSERT INTO videos.creators (id, name, email, channel_id) VALUES (1, 'c', 'c@x.test', 'UCx')")
        conn.commit()
        yield conn


def add_video(conn, video_id: int, title: str, description: str = "", tags: tuple[str, ...] = (),
              language: str = "en", status: str = "success") -> None:
    conn.execute("INSERT INTO videos.videos (id, creator_id, platform_id, title, description, tags, language,"
                 " status, published_at) VALUES (%s, 1, %s, %s, %s, %s, %s, %s, %s)",
                 (video_id, f"v{video_id}", title, description, list(tags), language, status,
                  datetime(2026, 1, 1, tzinfo=UTC)))
    conn.commit()


def add_views(conn, video_id: int, first: date, last: date, views: int) -> None:
    conn.execute("INSERT INTO videos.daily_stats (video_id, day, views, likes, comments, shares, watch_minutes) "
                 "SELECT %s, d::date, %s, 0, 0, 0, 0 FROM generate_series(%s::date, %s::date, '1 day') d",
                 (video_id, views, first, last))
    conn.commit()


def keywords(conn, video_id: int) -> list[str]:
    return [k for (k,) in conn.execute("SELECT keyword FROM videos.video_keywords WHERE video_id = %s ORDER BY rank",
                                       (video_id,))]


def performance(conn, day: date = D) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in conn.execute(
        "SELECT keyword, videos, mean_views, trend FROM videos.keyword_performance WHERE computed_for = %s", (day,))}


EN = VideoText(1, "How to Bake Sourdough Bread at Home",
               "In this video I show my sourdough starter, the baking schedule and the tips for a crispy crust. "
               "Please subscribe and like the video!", ["Sourdough", "#Bread", "the", "weekend baking"], "en")
ZH = VideoText(2, "在家做红烧肉的简单方法",
               "我们今天教大家怎么做好吃的红烧肉，这个家常菜教程非常简单。喜欢的话请点赞订阅！",
               ["红烧肉", "美食", "菜", "我们"], "zh-CN")


def test_english_keywords():
    found = dict(video_keywords(EN, 10))
    assert len(found) == 10
    # The title's phrases first (a tie, by keyword), then the words that are tags as well.
    assert list(found)[:4] == ["bake sourdough", "sourdough bread", "bread", "sourdough"]
    assert found["bread"] > 0.5 and found["sourdough"] > 0.5
    assert found["weekend baking"] == 0.5  # a tag the text does not contain still counts
    assert "sourdough starter" in found and "crispy crust" in found
    stop = {"the", "video", "subscribe", "like", "please", "in", "my", "at", "how", "to"}
    assert not stop & set(found) and not any(set(k.split()) <= stop for k in found)
    assert list(found.values()) == sorted(found.values(), reverse=True)
    assert video_keywords(EN, 3) == video_keywords(EN, 10)[:3]


def test_chinese_keywords():
    found = dict(video_keywords(ZH, 10))
    assert list(found)[0] == "红烧肉"  # in the title, the text and the tags
    assert found["红烧肉"] == 1.5
    assert found["美食"] == 0.5  # tag only
    assert {"家常菜", "教程", "好吃"} <= set(found)
    assert all(len(k) >= 2 for k in found)  # the 1-character tag 菜 is not a keyword
    assert not {"我们", "大家", "今天", "这个", "非常", "喜欢", "点赞", "订阅", "怎么"} & set(found)
    assert not any("请" in k for k in found)  # 请点赞 is cut as 请 + 点赞, not "请点"


def test_keywords_are_stored_per_video_and_unsupported_languages_skipped(conn):
    add_video(conn, EN.id, EN.title, EN.description, tuple(EN.tags))
    add_video(conn, ZH.id, ZH.title, ZH.description, tuple(ZH.tags), language="zh-CN")
    add_video(conn, 3, "Une recette de pain", language="fr")
    add_video(conn, 4, "Ramen at home", status="failed")
    receipt = analyse_keywords(conn, D, top_k=5, budget=budget(), batch_size=2)
    assert (receipt["videos"], receipt["skipped_language"], receipt["batches"]) == (2, 1, 2)
    assert keywords(conn, 1) == [k for k, _ in video_keywords(EN, 5)]
    assert keywords(conn, 2) == [k for k, _ in video_keywords(ZH, 5)]
    assert keywords(conn, 3) == [] and keywords(conn, 4) == []
    rows = conn.execute("SELECT video_id, rank, computed_for FROM videos.video_keywords ORDER BY 1, 2").fetchall()
    assert rows == [(v, r, D) for v in (1, 2) for r in range(1, 6)]


def test_performance_numbers(conn):
    add_video(conn, 1, "Ramen", tags=("ramen",))
    add_video(conn, 2, "Ramen", tags=("ramen", "noodles"))
    add_video(conn, 3, "Pasta", tags=("pasta",))
    add_video(conn, 4, "Ramen", tags=("ramen",), status="failed")
    add_views(conn, 1, D - timedelta(days=6), D, 100)  # last 7 days: 700
    add_views(conn, 1, D - timedelta(days=13), D - timedelta(days=7), 50)  # the 7 before: 350
    add_views(conn, 1, D - timedelta(days=30), D - timedelta(days=14), 10_000)  # outside both
    add_views(conn, 1, D + timedelta(days=1), D + timedelta(days=3), 10_000)  # after D
    add_views(conn, 2, D - timedelta(days=2), D, 200)  # 3 days: 600, none before
    add_views(conn, 4, D - timedelta(days=13), D, 9_999)  # not tracked
    receipt = analyse_keywords(conn, D, budget=budget())
    assert [keywords(conn, v) for v in (1, 2, 3)] == [["ramen"], ["ramen", "noodles"], ["pasta"]]
    assert performance(conn) == {
        "ramen": (2, (700 + 600) / 10, (1300 - 350) / 350),  # mean over the 10 daily rows
        "noodles": (1, 200.0, 0.0),  # nothing before: trend 0
        "pasta": (1, 0.0, 0.0),  # no stats
    }
    assert receipt["performance_keywords"] == receipt["performance_written"] == 3


def test_rerun_changes_nothing_and_a_new_day_replaces(conn):
    add_video(conn, 1, "Ramen", tags=("ramen",))
    add_video(conn, 2, "Sourdough bread at home", tags=("baking",))
    add_views(conn, 1, D - timedelta(days=13), D, 40)
    analyse_keywords(conn, D, budget=budget())
    state = conn.execute("SELECT video_id, keyword, xmin::text FROM videos.video_keywords ORDER BY 1, 2").fetchall()
    perf = conn.execute("SELECT keyword, xmin::text FROM videos.keyword_performance ORDER BY 1").fetchall()
    again = analyse_keywords(conn, D, budget=budget())
    assert (again["videos"], again["performance_written"], again["performance_deleted"]) == (0, 0, 0)
    assert conn.execute("SELECT video_id, keyword, xmin::text FROM videos.video_keywords ORDER BY 1, 2"
                        ).fetchall() == state
    assert conn.execute("SELECT keyword, xmin::text FROM videos.keyword_performance ORDER BY 1").fetchall() == perf

    # The next day: a changed title replaces that video's keywords; a keyword nobody has
    # any more is not in the new day's performance (the old day's rows stay).
    conn.execute("UPDATE videos.videos SET title = 'Udon', tags = '{udon}' WHERE id = 1")
    conn.commit()
    nxt = D + timedelta(days=1)
    analyse_keywords(conn, nxt, budget=budget())
    assert keywords(conn, 1) == ["udon"]
    assert set(performance(conn, nxt)) == {"udon", *keywords(conn, 2)}
    assert "ramen" in performance(conn, D)
    # A backfill of D leaves the later day's keywords alone and recomputes D's numbers.
    backfill = analyse_keywords(conn, D, budget=budget())
    assert backfill["videos"] == 0 and keywords(conn, 1) == ["udon"]
    assert "ramen" not in performance(conn, D)


def test_soft_time_limit_stops_between_batches_and_a_rerun_continues(conn):
    for n in range(1, 6):
        add_video(conn, n, f"Ramen number {n}", tags=(f"tag{n}",))
    ticks = itertools.count()
    tight = TimeBudget(40, clock=lambda: next(ticks) * 5.0)  # every clock reading is 5 s later
    with pytest.raises(SoftTimeLimitExceeded) as stopped:
        analyse_keywords(conn, D, budget=tight, batch_size=2)
    done = stopped.value.done
    assert 1 <= done < 3
    analysed = conn.execute("SELECT count(DISTINCT video_id) FROM videos.video_keywords").fetchone()[0]
    assert analysed == 2 * done
    assert performance(conn) == {}  # computed once every video is done
    rest = analyse_keywords(conn, D, budget=budget(), batch_size=2)
    assert rest["videos"] == 5 - analysed
    assert {f"tag{n}" for n in range(1, 6)} <= set(performance(conn))


def test_bad_top_k_is_rejected(conn):
    with pytest.raises(ValueError, match="top_k must be between 1 and 100"):
        analyse_keywords(conn, D, top_k=0, budget=budget())
