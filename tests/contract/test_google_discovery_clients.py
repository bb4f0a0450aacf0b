"""google-api-python-client (the static discovery documents it ships) against the sandbox's
YouTube Analytics v2 and AdSense Management v2, with the requests our clients make
(include/videos/youtube_client.py, include/videos/adsense_client.py)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from include.demo import videos_stats as demo_stats
from include.videos.adsense_client import METRICS as ADSENSE_METRICS
from include.videos.youtube_client import DEFAULT_PAGE_SIZE, DIMENSIONS, MAX_FILTER_IDS, METRICS

TOKEN = "contract-token"
OLD = (date(2025, 1, 1), date(2025, 12, 31))  # every video is published before the days asked for
DAY = date(2026, 3, 2)
ACCOUNT = "accounts/pub-1000000000000002"


def service(name: str, version: str, base_url: str):
    return build(name, version, credentials=Credentials(token=TOKEN), static_discovery=True,
                 cache_discovery=False, client_options={"api_endpoint": base_url + "/"})


def expected_youtube(videos, start: date, end: date) -> set[tuple]:
    out, day = set(), start
    while day <= end:
        for video in videos:
            s = demo_stats.daily_stats(video, day)
            if s is not None:
                out.add((day.isoformat(), video, s.views, s.likes, s.comments, s.shares, s.watch_minutes))
        day += timedelta(days=1)
    return out


def youtube_pages(reports, videos, start: date, end: date, page_size: int) -> list[dict]:
    """The pages of one report, requested as YouTubeAnalyticsClient.daily_stats does: 1-based
    startIndex advanced by maxResults until a short page."""
    pages = []
    while True:
        page = reports.query(
            ids="channel==MINE", startDate=start.isoformat(), endDate=end.isoformat(),
            metrics=",".join(METRICS), dimensions=",".join(DIMENSIONS), filters="video==" + ",".join(videos),
            sort="day,video", maxResults=page_size, startIndex=len(pages) * page_size + 1).execute()
        pages.append(page)
        if len(page.get("rows", [])) < page_size:
            return pages


def test_youtube_analytics_report_pages_parse_to_the_generators_numbers(sandbox_url, sandbox):
    videos = [demo_stats.draw_video_id(f"contract-{i}", OLD) for i in range(3)]
    end = DAY + timedelta(days=2)
    with service("youtubeAnalytics", "v2", sandbox_url) as youtube:
        pages = youtube_pages(youtube.reports(), videos, DAY, end, page_size=4)
    assert [len(p.get("rows", [])) for p in pages] == [4, 4, 1]
    for page in pages:
        assert page["kind"] == "youtubeAnalytics#resultTable"
        assert [h["name"] for h in page["columnHeaders"]] == [*DIMENSIONS, *METRICS]
        assert {h["columnType"] for h in page["columnHeaders"][2:]} == {"METRIC"}
    rows = [tuple(r) for p in pages for r in p["rows"]]
    assert all(type(v) is int for r in rows for v in r[2:])  # metric values are JSON numbers
    assert set(rows) == expected_youtube(videos, DAY, end) and len(rows) == 9
    calls = sandbox.requests("youtube_analytics")
    assert [c["path"] for c in calls] == ["/v2/reports"] * 3
    assert [c["query"]["startIndex"] for c in calls] == ["1", "5", "9"]
    assert calls[0]["query"]["filters"] == "video==" + ",".join(videos)
    assert calls[0]["headers"]["authorization"] == f"Bearer {TOKEN}"


def test_a_full_batch_of_500_ids_goes_as_a_method_override_post(sandbox_url, sandbox):
    """The job's batch (500 ids) makes a URL over googleapiclient's 2048 characters, so the
    vendor client sends the GET as POST + X-HTTP-Method-Override with a form body."""
    videos = [demo_stats.draw_video_id(f"contract-batch-{i}", OLD) for i in range(MAX_FILTER_IDS)]
    with service("youtubeAnalytics", "v2", sandbox_url) as youtube:
        [page] = youtube_pages(youtube.reports(), videos, DAY, DAY, page_size=DEFAULT_PAGE_SIZE)
    assert {tuple(r) for r in page["rows"]} == expected_youtube(videos, DAY, DAY) and len(page["rows"]) == 500
    [call] = sandbox.requests("youtube_analytics")
    assert (call["method"], call["headers"]["x-http-method-override"], call["status"]) == ("POST", "GET", 200)
    assert call["body"]["filters"] == "video==" + ",".join(videos)


def test_a_post_without_the_override_is_not_a_report_query(sandbox_url):
    response = requests.post(f"{sandbox_url}/v2/reports", headers={"Authorization": f"Bearer {TOKEN}"},
                             data={"ids": "channel==MINE"}, timeout=10)
    assert response.status_code == 404 and response.json()["error"]["status"] == "NOT_FOUND"


def test_youtube_analytics_errors_reach_the_vendor_client_as_google_errors(sandbox_url):
    with service("youtubeAnalytics", "v2", sandbox_url) as youtube, pytest.raises(HttpError) as err:
        youtube.reports().query(ids="channel==MINE", startDate="2026-03-02", endDate="2026-03-02",
                                metrics="views", dimensions="day,video",
                                filters="video==" + ",".join(f"v{i}" for i in range(501))).execute()
    assert err.value.status_code == 400 and "maximum is 500" in err.value.reason


def test_adsense_report_parses_to_the_generators_figures(sandbox_url, sandbox):
    start, end = date(2026, 4, 1), date(2026, 4, 10)
    requests.delete(f"{sandbox_url}/_sandbox/adsense/revisions", timeout=10).raise_for_status()
    with service("adsense", "v2", sandbox_url) as adsense:
        result = adsense.accounts().reports().generate(
            account=ACCOUNT, dateRange="CUSTOM",
            startDate_year=start.year, startDate_month=start.month, startDate_day=start.day,
            endDate_year=end.year, endDate_month=end.month, endDate_day=end.day,
            metrics=list(ADSENSE_METRICS), dimensions=["DATE"], currencyCode="EUR").execute()
    assert [h["name"] for h in result["headers"]] == ["DATE", *ADSENSE_METRICS]
    assert result["headers"][1] == {"name": "ESTIMATED_EARNINGS", "type": "METRIC_CURRENCY", "currencyCode": "EUR"}
    assert result["totalMatchedRows"] == "10"  # int64 travels as a string
    assert result["startDate"] == {"year": 2026, "month": 4, "day": 1}
    assert result["endDate"] == {"year": 2026, "month": 4, "day": 10}
    cells = [[c["value"] for c in row["cells"]] for row in result["rows"]]
    assert all(type(v) is str for row in cells for v in row)  # every cell value is a string
    got = {date.fromisoformat(d): (Decimal(money), int(views), int(clicks)) for d, money, views, clicks in cells}
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    assert got == {d: tuple(demo_stats.adsense_day(ACCOUNT, d)) for d in days}
    assert sum(v[0] for v in got.values()) == Decimal(result["totals"]["cells"][1]["value"])
    assert result["totals"]["cells"][0] == {}  # dimension cells of totals carry no value
    [call] = sandbox.requests("adsense")
    assert call["path"] == f"/v2/{ACCOUNT}/reports:generate"
    assert {k: call["query"][k] for k in ("dateRange", "startDate.year", "startDate.month", "startDate.day",
                                          "endDate.day", "dimensions", "currencyCode")} == {
        "dateRange": "CUSTOM", "startDate.year": "2026", "startDate.month": "4", "startDate.day": "1",
        "endDate.day": "10", "dimensions": "DATE", "currencyCode": "EUR"}
