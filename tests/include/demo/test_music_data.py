"""The music demo generator: the same answers in any process, ranking dates per frequency,
rankings that evolve consistently, song objects of Soundcharts' shape, cumulative audience."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from include.demo import music_data

REPO = Path(__file__).resolve().parents[3]
TODAY = date(2026, 6, 15)
SONG_KEYS = {"uuid", "name", "isrc", "iswcs", "creditName", "artists", "releaseDate", "copyright", "appUrl",
             "imageUrl", "duration", "explicit", "genres", "composers", "producers", "labels", "audio"}
SNAPSHOT = """
import json
from datetime import date
from include.demo import music_data as m
u = m.song_uuids()[123]
print(json.dumps([m.ranking("us-daily", date(2026, 6, 1))[:20], m.song(u),
                  m.audience(u, "spotify", date(2026, 6, 1)), m.ranking_dates("global-28", date(2026, 6, 15))[:3]],
                 default=str))
"""


def test_same_answers_in_another_process():
    u = music_data.song_uuids()[123]
    here = json.dumps([music_data.ranking("us-daily", date(2026, 6, 1))[:20], music_data.song(u),
                       music_data.audience(u, "spotify", date(2026, 6, 1)),
                       music_data.ranking_dates("global-28", date(2026, 6, 15))[:3]], default=str)
    there = subprocess.run([sys.executable, "-c", SNAPSHOT], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345"}, cwd=REPO).stdout.strip()
    assert there == here


def test_ranking_dates_follow_each_frequency():
    weekly = music_data.ranking_dates("global-28", TODAY)
    assert weekly[0] <= TODAY < weekly[0] + timedelta(days=7) and weekly[-1] == date(2019, 1, 3)
    assert all(d.weekday() == 3 for d in weekly)
    assert all(a - b == timedelta(days=7) for a, b in zip(weekly, weekly[1:], strict=False))
    daily = music_data.ranking_dates("us-daily", TODAY)
    assert daily[0] == TODAY and len(daily) == (TODAY - date(2023, 1, 1)).days + 1
    monthly = music_data.ranking_dates("apple-music-top-100-global", TODAY)
    assert monthly[0] == date(2026, 6, 1) and monthly[-1] == date(2021, 1, 1) and len(monthly) == 66
    assert all(d.day == 1 for d in monthly)
    assert music_data.is_ranking_date("global-28", weekly[5], TODAY)
    assert not music_data.is_ranking_date("global-28", weekly[5] + timedelta(days=1), TODAY)
    assert not music_data.is_ranking_date("us-daily", TODAY + timedelta(days=1), TODAY)
    assert music_data.ranking_dates("shazam-top-200-us", date(2023, 12, 31)) == []


def test_rankings_are_consistent_with_the_previous_date():
    days = music_data.ranking_dates("global-28", TODAY)
    now, before = music_data.ranking("global-28", days[0]), music_data.ranking("global-28", days[1])
    assert [i["position"] for i in now] == list(range(1, 201))
    assert len({i["song"]["uuid"] for i in now}) == 200
    previous = {i["song"]["uuid"]: i for i in before}
    overlap = 0
    for item in now:
        old = previous.get(item["song"]["uuid"])
        assert item["oldPosition"] == (old["position"] if old else 0)
        assert item["positionEvolution"] == (item["oldPosition"] - item["position"] if old else 0)
        if old:
            overlap += 1
            assert item["timeOnChart"] == min(old["timeOnChart"] + 1, music_data.STREAK_LOOKBACK + 1)
            assert item["entryState"] in ("UP", "DOWN", "STABLE")
        else:
            assert item["entryState"] in ("NEW", "RE_ENTRY") and item["timeOnChart"] == 1
    assert 120 <= overlap < 200  # the chart evolves without being reshuffled
    metrics = [i["metric"] for i in now]
    assert metrics == sorted(metrics, reverse=True) and all(isinstance(m, int) for m in metrics)
    us = {i["song"]["uuid"] for i in music_data.ranking("us-daily", TODAY)}
    assert us & {i["song"]["uuid"] for i in now}  # charts share songs


def test_songs_have_soundcharts_shape_and_audience_accumulates():
    uuid = music_data.ranking("us-daily", TODAY)[0]["song"]["uuid"]
    song = music_data.song(uuid)
    assert set(song) == SONG_KEYS and song["uuid"] == uuid and len(song["isrc"]["value"]) == 12
    assert music_data.song("00000000-0000-4000-8000-000000000000") is None
    released = music_data.release_day(uuid)
    assert music_data.audience(uuid, "spotify", released - timedelta(days=1)) is None
    series = [music_data.audience(uuid, "spotify", released + timedelta(days=n)) for n in range(200)]
    assert all(isinstance(v, int) for v in series) and series == sorted(series) and series[-1] > series[0]
    assert music_data.audience(uuid, "myspace", TODAY) is None
    assert len({music_data.isrc(u) for u in music_data.song_uuids()}) == music_data.POOL_SIZE
