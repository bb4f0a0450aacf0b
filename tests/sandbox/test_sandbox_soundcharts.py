"""Soundcharts stand-in: key auth, offset/limit paging with relative next links, 404s, data
equal to include/demo/music_data.py across calls, the quota header, 429s the SDK retries and
malformed records a client must catch."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import requests

from include.demo import music_data

KEYS = {"x-app-id": "soundcharts", "x-api-key": "soundcharts"}


def get(base_url: str, path: str, params: dict | None = None, headers: dict | None = KEYS):
    return requests.get(base_url + path, params=params, headers=headers, timeout=30)


def ranking_path(slug: str, when: str) -> str:
    return f"/api/v2.14/chart/song/{slug}/ranking/{when.replace('+', '%2B')}"


def today() -> date:
    return music_data.today_utc()


def valid_item(item) -> bool:
    """What a client must check before trusting a ranking item."""
    song = item.get("song") if isinstance(item, dict) else None
    position = item.get("position") if isinstance(item, dict) else None
    metric = item.get("metric")
    try:
        datetime.fromisoformat(item["rankDate"])
    except (KeyError, TypeError, ValueError):
        return False
    return (isinstance(song, dict) and isinstance(song.get("uuid"), str)
            and isinstance(position, int) and not isinstance(position, bool) and position >= 0
            and (metric is None or (isinstance(metric, int) and not isinstance(metric, bool))))


def test_every_call_needs_both_keys(base_url, control, monkeypatch):
    latest = ranking_path("global-28", "latest")
    for headers in (None, {"x-app-id": "a"}, {"x-api-key": "k"}, {"x-app-id": "", "x-api-key": "k"}):
        answer = get(base_url, latest, headers=headers)
        assert answer.status_code == 401
        [error] = answer.json()["errors"]
        assert error["code"] == 401 and error["key"] and "x-app-id" in error["message"]
        assert answer.headers["x-quota-remaining"].isdigit()
    assert get(base_url, latest, headers={"x-app-id": "any", "x-api-key": "pair"}).status_code == 200

    monkeypatch.setenv("SANDBOX_SOUNDCHARTS_APP_ID", "team-app")
    monkeypatch.setenv("SANDBOX_SOUNDCHARTS_API_KEY", "team-key")
    assert get(base_url, latest).status_code == 401
    assert get(base_url, latest, headers={"x-app-id": "team-app", "x-api-key": "team-key"}).status_code == 200
    assert [r["status"] for r in control.requests("soundcharts")] == [401] * 4 + [200, 401, 200]


def test_ranking_pages_to_the_last_page_by_offset_and_by_next(base_url):
    day = music_data.ranking_dates("global-28", today())[3]
    when = music_data.iso(day)
    first = get(base_url, ranking_path("global-28", when), {"limit": 100}).json()
    assert first["errors"] == []
    assert first["related"]["chart"]["slug"] == "global-28"
    assert first["related"]["chart"]["maxResultsCount"] == 200
    assert first["related"]["date"] == when
    assert first["page"] == {"offset": 0, "limit": 100, "total": 200, "previous": None,
                             "next": f"/api/v2.14/chart/song/global-28/ranking/{when}?offset=100&limit=100"}

    # The next link is a relative /api/... path a client can request as it is.
    second = get(base_url, first["page"]["next"]).json()
    assert second["page"]["offset"] == 100 and second["page"]["next"] is None
    assert second["page"]["previous"] == f"/api/v2.14/chart/song/global-28/ranking/{when}?offset=0&limit=100"
    items = first["items"] + second["items"]
    assert [i["position"] for i in items] == list(range(1, 201))
    assert len({i["song"]["uuid"] for i in items}) == 200
    assert items == music_data.ranking("global-28", day)
    assert all(valid_item(i) and i["rankDate"] == when for i in items)

    tail = get(base_url, ranking_path("global-28", when), {"offset": 190, "limit": 100}).json()
    assert [i["position"] for i in tail["items"]] == list(range(191, 201)) and tail["page"]["next"] is None
    assert get(base_url, ranking_path("global-28", when), {"offset": 200}).json()["items"] == []


def test_ranking_datetime_with_a_literal_plus_or_another_offset_and_latest(base_url):
    day = music_data.latest_ranking_date("us-daily", today())
    when = music_data.iso(day)
    encoded = get(base_url, ranking_path("us-daily", when), {"limit": 5}).json()
    literal = get(base_url, f"/api/v2.14/chart/song/us-daily/ranking/{when}", {"limit": 5}).json()
    same_instant = datetime.fromisoformat(when).astimezone(timezone(timedelta(hours=2))).isoformat()
    shifted = get(base_url, ranking_path("us-daily", same_instant), {"limit": 5}).json()
    latest = get(base_url, ranking_path("us-daily", "latest"), {"limit": 5}).json()
    assert encoded["items"] == literal["items"] == shifted["items"] == latest["items"]
    assert latest["related"]["date"] == when
    assert latest["page"]["next"] == "/api/v2.14/chart/song/us-daily/ranking/latest?offset=5&limit=5"
    # A chart without a metric (Shazam) says so with nulls.
    shazam = get(base_url, ranking_path("shazam-top-200-us", "latest"), {"limit": 3}).json()
    assert shazam["related"]["chart"]["metric"] is None
    assert [i["metric"] for i in shazam["items"]] == [None] * 3


@pytest.mark.parametrize("slug, when, status", [
    ("no-such-chart", "latest", 404),
    ("global-28", "2024-01-17T00:00:00+00:00", 404),  # a Wednesday: the weekly chart is on Thursdays
    ("global-28", "2018-12-27T00:00:00+00:00", 404),  # before the chart's first date
    ("us-daily", "2024-01-17T12:00:00+00:00", 404),  # not a ranking's time
    ("us-daily", "2024-01-17T00:00:00", 400),  # no offset
    ("us-daily", "yesterday", 400),
])
def test_ranking_errors(base_url, slug, when, status):
    answer = get(base_url, ranking_path(slug, when))
    assert answer.status_code == status
    [error] = answer.json()["errors"]
    assert error["code"] == status and error["message"]


def test_a_future_day_is_not_a_ranking_yet(base_url):
    tomorrow = music_data.iso(today() + timedelta(days=1))
    assert get(base_url, ranking_path("us-daily", tomorrow)).status_code == 404


@pytest.mark.parametrize("params", [{"limit": 101}, {"limit": 0}, {"offset": -1}, {"limit": "ten"}])
def test_bad_paging_parameters_are_400(base_url, params):
    answer = get(base_url, ranking_path("global-28", "latest"), params)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == 400


def test_available_rankings_newest_first_to_the_last_page(base_url):
    expected = [music_data.iso(d) for d in music_data.ranking_dates("global-28", today())]
    seen, offset = [], 0
    while True:
        page = get(base_url, "/api/v2/chart/song/global-28/available-rankings",
                   {"offset": offset, "limit": 100}).json()
        assert page["page"]["total"] == len(expected)
        seen += page["items"]
        if page["page"]["next"] is None:
            break
        offset += 100
    assert seen == expected
    assert seen == sorted(seen, reverse=True) and seen[-1] == "2019-01-03T00:00:00+00:00"
    assert datetime.fromisoformat(seen[0]).weekday() == 3  # Thursday
    # Each listed date is a ranking that answers.
    for when in (seen[0], seen[len(seen) // 2], seen[-1]):
        assert get(base_url, ranking_path("global-28", when), {"limit": 1}).status_code == 200
    monthly = get(base_url, "/api/v2/chart/song/apple-music-top-100-global/available-rankings").json()
    assert all(datetime.fromisoformat(d).day == 1 for d in monthly["items"])
    assert get(base_url, "/api/v2/chart/song/nope/available-rankings").status_code == 404


def test_charts_by_platform_and_country(base_url):
    spotify = get(base_url, "/api/v2/chart/song/by-platform/spotify").json()
    assert {c["slug"] for c in spotify["items"]} == {"global-28", "us-daily"} and spotify["page"]["total"] == 2
    us = get(base_url, "/api/v2/chart/song/by-platform/spotify", {"countryCode": "US"}).json()
    assert [c["slug"] for c in us["items"]] == ["us-daily"]
    assert us["items"][0] == music_data.chart_object("us-daily")
    assert {"name", "type", "platform", "frequency", "countryCode", "maxResultsCount"} <= set(us["items"][0])
    assert get(base_url, "/api/v2/chart/song/by-platform/napster").json()["items"] == []


def test_song_metadata_matches_the_ranking_and_is_stable(base_url):
    item = get(base_url, ranking_path("global-28", "latest"), {"limit": 1}).json()["items"][0]
    uuid = item["song"]["uuid"]
    body = get(base_url, f"/api/v2.25/song/{uuid}").json()
    assert body["type"] == "song" and body["errors"] == []
    song = body["object"]
    assert song == music_data.song(uuid) == get(base_url, f"/api/v2.25/song/{uuid}").json()["object"]
    assert (song["name"], song["creditName"]) == (item["song"]["name"], item["song"]["creditName"])
    assert len(song["isrc"]["value"]) == 12 and isinstance(song["duration"], int)
    assert song["artists"][0]["uuid"] and song["genres"][0]["root"] and song["labels"][0]["name"]
    datetime.fromisoformat(song["releaseDate"])
    missing = get(base_url, "/api/v2.25/song/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and missing.json()["errors"][0]["key"] == "song"


def test_song_audience_series(base_url):
    uuid = next(u for u in music_data.song_uuids() if music_data.release_day(u) < date(2024, 1, 1))
    params = {"startDate": "2025-03-01", "endDate": "2025-04-29"}
    body = get(base_url, f"/api/v2/song/{uuid}/audience/spotify", params).json()
    assert body["page"]["total"] == 60 and len(body["items"]) == 60
    identifier = music_data.platform_id(uuid, "spotify")
    assert body["related"]["identifiers"] == [identifier] and body["related"]["song"]["uuid"] == uuid
    values = []
    for n, item in enumerate(body["items"]):
        day = date(2025, 3, 1) + timedelta(days=n)
        assert item["date"] == music_data.iso(day)
        [plot] = item["plots"]
        assert plot == {"identifier": identifier, "value": music_data.audience(uuid, "spotify", day)}
        values.append(plot["value"])
    assert values == sorted(values)  # cumulative

    newest = get(base_url, f"/api/v2/song/{uuid}/audience/spotify", {**params, "sort": "desc", "limit": 1}).json()
    assert newest["items"][0]["date"] == "2025-04-29T00:00:00+00:00" and newest["page"]["next"]
    other_id = get(base_url, f"/api/v2/song/{uuid}/audience/spotify", {**params, "identifier": "x"}).json()
    assert all(i["plots"] == [] for i in other_id["items"])

    # A song released inside the period has no audience before its release day.
    late = next(u for u in music_data.song_uuids()
                if date(2025, 3, 2) <= music_data.release_day(u) <= date(2025, 4, 28))
    first = get(base_url, f"/api/v2/song/{late}/audience/spotify", params).json()["items"][0]
    assert first["date"] == music_data.iso(music_data.release_day(late))

    for bad in ({"startDate": "2025-01-01", "endDate": "2025-06-01"}, {"startDate": "2025-13-01"},
                {"startDate": "2025-02-01", "endDate": "2025-01-01"}):
        assert get(base_url, f"/api/v2/song/{uuid}/audience/spotify", bad).status_code == 400
    assert get(base_url, f"/api/v2/song/{uuid}/audience/myspace").status_code == 400
    assert get(base_url, "/api/v2/song/not-a-song/audience/spotify").status_code == 404


def test_quota_header_counts_answered_calls_and_usage_is_free(base_url):
    first = int(get(base_url, "/api/v2/chart/song/by-platform/spotify").headers["x-quota-remaining"])
    second = int(get(base_url, "/api/v2/chart/song/by-platform/spotify").headers["x-quota-remaining"])
    assert second == first - 1
    usage = get(base_url, "/api/v2/team/usage")
    assert int(usage.headers["x-quota-remaining"]) == second == usage.json()["object"]["remaining"]


def test_429_carries_what_the_sdk_retries_on_then_503(base_url, control):
    control.set_faults("soundcharts", status_429=1, retry_after=3, status_5xx=1)
    throttled = get(base_url, ranking_path("global-28", "latest"))
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3" and throttled.headers["x-ratelimit-reset"] == "3"
    assert throttled.headers["x-quota-remaining"].isdigit()
    [error] = throttled.json()["errors"]
    assert error["code"] == 429 and "maximum request count" in error["message"]
    down = get(base_url, ranking_path("global-28", "latest"))
    assert down.status_code == 503 and down.json()["errors"][0]["code"] == 503
    assert get(base_url, ranking_path("global-28", "latest")).status_code == 200
    assert [r["fault"] for r in control.requests("soundcharts")] == ["status_429", "status_503", None]


def test_malformed_ranking_items_are_deterministic_and_detectable(base_url, control):
    control.set_faults("soundcharts", malformed_fraction=0.3)
    path = ranking_path("global-28", "latest")
    first = get(base_url, path, {"limit": 100}).json()["items"]
    again = get(base_url, path, {"limit": 100}).json()["items"]
    assert first == again
    bad = [i for i in first if not valid_item(i)]
    assert 10 <= len(bad) <= 50
    assert control.requests("soundcharts")[0]["malformed"] == len(bad)
    clean = music_data.ranking("global-28", music_data.latest_ranking_date("global-28", today()))[:100]
    assert [i for i in first if valid_item(i)] == [i for i, f in zip(clean, first, strict=True) if valid_item(f)]

    control.set_faults("soundcharts", malformed_fraction=1.0)
    everything = get(base_url, path, {"limit": 100}).json()["items"]
    assert not any(valid_item(i) for i in everything)


def test_malformed_songs_and_audience(base_url, control):
    control.set_faults("soundcharts", malformed_fraction=1.0)
    uuid = music_data.song_uuids()[0]
    song = get(base_url, f"/api/v2.25/song/{uuid}").json()["object"]
    assert song != music_data.song(uuid)
    broken = ("uuid" not in song or not isinstance(song["duration"], int) or not isinstance(song["artists"], list)
              or song["releaseDate"] == "not-a-date" or not isinstance(song["isrc"], dict))
    assert broken
    items = get(base_url, f"/api/v2/song/{uuid}/audience/spotify",
                {"startDate": "2025-01-01", "endDate": "2025-01-30"}).json()["items"]
    for item in items:
        plots = item.get("plots")
        assert (item.get("date") in (None, "yesterday") or plots is None
                or any(not isinstance(p.get("value"), int) for p in plots))
