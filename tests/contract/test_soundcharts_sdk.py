"""The official Soundcharts SDK (`soundcharts` 1.3.3, async aiohttp under a sync facade)
against the sandbox through its `base_url`: a chart ranking of a date paged by the SDK's own
parallel offset loop, the latest ranking, the available dates, a song's metadata and its
audience, and a 429 the SDK waits out (it retries only when the message says "maximum request
count", sleeping x-ratelimit-reset + 1 s)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from soundcharts.client import SoundchartsClient

from include.demo import music_data


@pytest.fixture
def client(sandbox_url) -> SoundchartsClient:
    return SoundchartsClient(
        app_id="soundcharts", api_key="soundcharts", base_url=sandbox_url, max_retries=1, retry_delay=0,
        timeout=30, console_log_level=logging.ERROR,
        file_log_level=logging.CRITICAL + 1,  # the SDK's lazy soundcharts_api.log in the cwd stays unopened
    )


def test_ranking_for_a_date_paged_by_the_sdk(client, sandbox):
    day = music_data.ranking_dates("global-28")[2]
    result = client.charts.get_song_ranking_for_a_date("global-28", music_data.iso(day), limit=None)
    assert result["related"]["chart"]["slug"] == "global-28"
    assert result["related"]["date"] == music_data.iso(day)
    assert result["page"]["total"] == 200 and result["page"]["next"] is None
    assert [i["position"] for i in result["items"]] == list(range(1, 201))
    assert result["items"] == music_data.ranking("global-28", day)
    assert isinstance(result["quota_remaining"], int)  # the SDK read x-quota-remaining
    offsets = sorted(int(r["query"].get("offset", 0)) for r in sandbox.requests("soundcharts"))
    assert offsets == [0, 100]


def test_latest_ranking_with_a_limit(client):
    result = client.charts.get_song_ranking_latest("us-daily", limit=150)
    assert len(result["items"]) == 150 and result["page"]["total"] == 200
    assert result["related"]["date"] == music_data.iso(music_data.latest_ranking_date("us-daily"))


def test_available_dates_all_pages(client):
    result = client.charts.get_song_ranking_dates("global-28", limit=None)
    # The SDK re-sorts the dates itself (sort_items_by_date(..., reverse=True, key=None)): newest first.
    assert result["items"] == [music_data.iso(d) for d in music_data.ranking_dates("global-28")]
    assert result["page"]["total"] == len(result["items"]) > 300


def test_song_metadata_and_audience(client):
    uuid = client.charts.get_song_ranking_latest("global-28", limit=1)["items"][0]["song"]["uuid"]
    song = client.song.get_song_metadata(uuid)
    assert song["object"] == music_data.song(uuid) and song["errors"] == []
    end = music_data.today_utc() - timedelta(days=1)
    start = end - timedelta(days=29)
    audience = client.song.get_audience(uuid, "spotify", start.isoformat(), end.isoformat())
    days = [datetime.fromisoformat(i["date"]).date() for i in audience["items"]]
    assert days == [end - timedelta(days=n) for n in range(30)]  # the SDK sorts by `date`, newest first
    assert [i["plots"][0]["value"] for i in audience["items"]] == [
        music_data.audience(uuid, "spotify", d) for d in days]
    assert client.song.get_song_metadata("00000000-0000-4000-8000-000000000000") == {}  # the SDK's 404


def test_the_sdk_waits_out_a_429(client, sandbox):
    sandbox.set_faults("soundcharts", status_429=1, retry_after=0)
    result = client.charts.get_song_chart_list_by_platform("spotify", country_code="US")
    assert [c["slug"] for c in result["items"]] == ["us-daily"]
    assert [r["status"] for r in sandbox.requests("soundcharts")] == [429, 200]


def test_wrong_keys_fail_loudly(sandbox_url, monkeypatch):
    monkeypatch.setenv("SANDBOX_SOUNDCHARTS_APP_ID", "team-app")
    monkeypatch.setenv("SANDBOX_SOUNDCHARTS_API_KEY", "team-key")
    client = SoundchartsClient(app_id="wrong", api_key="wrong", base_url=sandbox_url, max_retries=0,
                               console_log_level=logging.CRITICAL + 1, file_log_level=logging.CRITICAL + 1)
    with pytest.raises(RuntimeError, match="401"):
        client.charts.get_song_ranking_latest("global-28")
