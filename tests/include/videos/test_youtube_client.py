"""YouTubeAnalyticsClient against the sandbox's YouTube Analytics v2: the documented request,
paging, the 500-id filter limit, 429/5xx and malformed rows."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from include.common.http import ApiClient, ApiError, RetryableApiError
from include.common.validation import BatchReport
from include.demo import videos_stats as demo_stats
from include.videos.youtube_client import MAX_FILTER_IDS, YouTubeAnalyticsClient

API = "youtube_analytics"
OLD = (date(2025, 1, 1), date(2025, 12, 31))  # published before every day asked for here
DAY = date(2026, 3, 2)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def api(sandbox, session_env, sleeps):
    sandbox.reset_faults()
    sandbox.clear_requests()
    with ApiClient(f"http://127.0.0.1:{session_env['http_port']}", headers={"Authorization": "Bearer test-token"},
                   sleep=sleeps.append, max_attempts=3) as client:
        yield client
    sandbox.reset_faults()


def ids(n: int, prefix: str = "yt") -> list[str]:
    return [demo_stats.draw_video_id(f"{prefix}-{i}", OLD) for i in range(n)]


def expected(videos, start, end) -> set[tuple]:
    out, day = set(), start
    while day <= end:
        for v in videos:
            s = demo_stats.daily_stats(v, day)
            if s is not None:
                out.add((day, v, s.views, s.likes, s.comments, s.shares, s.watch_minutes))
        day += timedelta(days=1)
    return out


def as_tuples(rows) -> set[tuple]:
    return {(r.day, r.video, r.views, r.likes, r.comments, r.shares, r.estimatedMinutesWatched) for r in rows}


def test_rows_are_the_generators_and_pages_follow_start_index(api, sandbox):
    videos = ids(3)
    report = BatchReport()
    rows = list(YouTubeAnalyticsClient(api, page_size=4).daily_stats(videos, DAY, DAY + timedelta(days=2), report))
    assert len(rows) == 9
    assert as_tuples(rows) == expected(videos, DAY, DAY + timedelta(days=2))
    assert (report.fetched, report.malformed) == (9, 0)
    calls = sandbox.requests(API)
    assert [c["query"]["startIndex"] for c in calls] == ["1", "5", "9"]
    query = calls[0]["query"]
    assert query["ids"] == "channel==MINE"
    assert query["dimensions"] == "day,video"
    assert query["metrics"] == "views,likes,comments,shares,estimatedMinutesWatched"
    assert query["filters"] == "video==" + ",".join(videos)
    assert (query["startDate"], query["endDate"], query["maxResults"]) == ("2026-03-02", "2026-03-04", "4")
    assert calls[0]["headers"]["authorization"] == "Bearer test-token"


def test_a_video_has_no_rows_before_its_publish_day(api):
    video = demo_stats.draw_video_id("fresh", (date(2026, 3, 3), date(2026, 3, 3)))
    rows = list(YouTubeAnalyticsClient(api).daily_stats([video], DAY, DAY + timedelta(days=2), BatchReport()))
    assert [r.day for r in rows] == [date(2026, 3, 3), date(2026, 3, 4)]


def test_more_ids_than_the_filter_takes_are_refused_before_sending(api, sandbox):
    with pytest.raises(ValueError, match="at most 500"):
        list(YouTubeAnalyticsClient(api).daily_stats(ids(MAX_FILTER_IDS + 1), DAY, DAY, BatchReport()))
    assert sandbox.requests(API) == []


def test_the_api_answers_a_filter_over_the_limit_with_a_google_error(api):
    with pytest.raises(ApiError) as err:
        api.get("v2/reports", params={"ids": "channel==MINE", "startDate": "2026-03-02", "endDate": "2026-03-02",
                                      "metrics": "views", "dimensions": "day,video",
                                      "filters": "video==" + ",".join(f"v{i}" for i in range(501))})
    assert err.value.status == 400 and "maximum is 500" in err.value.message


def test_no_token_is_401(session_env, sandbox):
    with ApiClient(f"http://127.0.0.1:{session_env['http_port']}") as anonymous, pytest.raises(ApiError) as err:
        list(YouTubeAnalyticsClient(anonymous).daily_stats(ids(1), DAY, DAY, BatchReport()))
    assert err.value.status == 401


def test_429_waits_retry_after_then_succeeds(api, sandbox, sleeps):
    sandbox.set_faults(API, status_429=2, retry_after=1)
    videos = ids(2)
    rows = list(YouTubeAnalyticsClient(api).daily_stats(videos, DAY, DAY, BatchReport()))
    assert as_tuples(rows) == expected(videos, DAY, DAY)
    assert sleeps == [1.0, 1.0]
    assert [c["status"] for c in sandbox.requests(API)] == [429, 429, 200]


def test_5xx_is_retried_and_a_storm_fails_as_retryable(api, sandbox, sleeps):
    sandbox.set_faults(API, status_5xx=1)
    videos = ids(2)
    assert as_tuples(YouTubeAnalyticsClient(api).daily_stats(videos, DAY, DAY, BatchReport())) == \
        expected(videos, DAY, DAY)
    sandbox.set_faults(API, status_5xx=5)
    with pytest.raises(RetryableApiError, match="gave up after 3 attempts"):
        list(YouTubeAnalyticsClient(api).daily_stats(videos, DAY, DAY, BatchReport()))


def test_malformed_rows_are_counted_and_skipped(api, sandbox):
    sandbox.set_faults(API, malformed_fraction=0.2)
    videos = ids(50)
    report = BatchReport()
    rows = list(YouTubeAnalyticsClient(api, page_size=60).daily_stats(videos, DAY, DAY + timedelta(days=3), report))
    bad = sum(c["malformed"] for c in sandbox.requests(API))
    assert report.fetched == 200 and report.malformed == bad and 20 <= bad <= 60
    assert len(rows) == 200 - bad
    assert as_tuples(rows) <= expected(videos, DAY, DAY + timedelta(days=3))  # every kept row is right
    assert set(report.malformed_ids) <= set(videos) | {f"#{i}" for i in range(200)}
