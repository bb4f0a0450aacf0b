"""The failure class of each error path: what fails at once, what Airflow retries. One case
per client (its refusals, its throttling, its malformed answers), per manual DAG's bad input,
per configuration error, per database error, and for the soft time limit."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
import requests
from airflow.sdk.definitions.retry_policy import RetryAction

from include.common.http import ApiClient, ApiError, RetryableApiError
from include.common.rate_limit import RateLimiterUnavailable, RateLimitTimeout
from include.common.time_budget import SoftTimeLimitExceeded
from include.common.validation import TooManyMalformed
from include.orchestration.budget import derive_soft_limit, soft_limit_of
from include.orchestration.errors import ERROR_POLICY
from include.social.media.errors import MediaBusy, MediaNotFound, UnprocessableMedia
from include.social.welcome import UnknownUser
from include.videos.adsense_client import AdSenseClient
from include.videos.llm_client import ChatClient, LlmAnswerError
from include.videos.youtube_client import YouTubeAnalyticsClient


def action(exc: BaseException) -> RetryAction:
    return ERROR_POLICY.evaluate(exc, try_number=1, max_tries=4).action


class Answer:
    """An ApiClient whose every call returns `body` (a client's parsing under test)."""

    def __init__(self, body):
        self.body = body

    def get(self, *args, **kwargs):
        return self.body

    def post(self, *args, **kwargs):
        return self.body


def raised(call) -> BaseException:
    with pytest.raises(Exception) as info:
        call()
    return info.value


@pytest.mark.parametrize(("exc", "expected"), [
    (ApiError("bad token", status=401), RetryAction.FAIL),  # refused: the same request gets the same answer
    (ApiError("no such report", status=404), RetryAction.FAIL),
    (RetryableApiError("gave up after 5 attempts, last: 503"), RetryAction.RETRY),
    (RateLimitTimeout("no token within 300 s"), RetryAction.RETRY),
    (RateLimiterUnavailable("Redis is unreachable"), RetryAction.RETRY),
    (SoftTimeLimitExceeded(3, 10, {"batches": 3}), RetryAction.RETRY),  # the retry continues
    (TooManyMalformed("40 of 100 records malformed"), RetryAction.FAIL),  # an API change
    (UnknownUser(42), RetryAction.FAIL),  # social_send_welcome_email's bad user_id
    (MediaNotFound("no upload 42"), RetryAction.FAIL),  # social_process_media_upload's bad media_id
    (UnprocessableMedia("corrupt image"), RetryAction.FAIL),
    (MediaBusy("locked by another run"), RetryAction.RETRY),
    (ValueError("videos_adsense_days_back must be >= 1"), RetryAction.FAIL),  # a bad setting
    (psycopg.errors.NumericValueOutOfRange("bigint out of range"), RetryAction.FAIL),
    (psycopg.errors.UndefinedTable('relation "platform.outbox" does not exist'), RetryAction.FAIL),
    (psycopg.OperationalError("connection refused"), RetryAction.RETRY),
    (requests.ConnectionError("reset by peer"), RetryAction.RETRY),
    (TimeoutError("timed out"), RetryAction.RETRY),
    (RuntimeError("something unforeseen"), RetryAction.DEFAULT),  # unknown: Airflow's default (retry)
])
def test_each_error_class(exc, expected):
    assert action(exc) == expected


def test_clients_turn_malformed_answers_into_their_api_error():
    adsense = AdSenseClient(Answer({"headers": [{"name": None}, {"name": "DATE"}]}))  # a corrupted header
    youtube = YouTubeAnalyticsClient(Answer(["not", "a", "report"]))
    llm = ChatClient(Answer({"choices": "none"}), model="m")
    from datetime import date

    from include.common.validation import BatchReport

    errors = [
        raised(lambda: adsense.daily_earnings("pub-1", date(2026, 1, 1), date(2026, 1, 2), BatchReport())),
        raised(lambda: list(youtube.daily_stats(["v1"], date(2026, 1, 1), date(2026, 1, 1), BatchReport()))),
        raised(lambda: llm.complete([{"role": "user", "content": "hi"}])),
        raised(lambda: AdSenseClient(Answer({"headers": [{"name": n, "currencyCode": "USD"} for n in
                                                          ("DATE", "ESTIMATED_EARNINGS", "PAGE_VIEWS", "CLICKS")],
                                             "rows": "garbage"})).daily_earnings(
            "pub-1", date(2026, 1, 1), date(2026, 1, 2), BatchReport())),
    ]
    assert [type(e) for e in errors[:2]] == [ApiError, ApiError]
    assert isinstance(errors[2], LlmAnswerError) and isinstance(errors[2], ApiError)
    assert type(errors[3]) is ApiError
    assert all(action(e) == RetryAction.FAIL for e in errors)


def test_http_statuses_are_classified_by_the_client(sandbox):
    """Through the real HTTP client against the sandbox: a 401 fails at once; a 503 storm
    and a 429 storm retry (after the client's own retries are used up)."""
    base = sandbox.base_url
    refused = raised(lambda: ApiClient(base, max_attempts=2, sleep=lambda s: None).get("/v2/reports"))
    assert isinstance(refused, ApiError) and refused.status == 401 and action(refused) == RetryAction.FAIL
    for storm in ({"status_5xx": 5}, {"status_429": 5, "retry_after": 0}):
        sandbox.set_faults("youtube_analytics", **storm)
        try:
            client = ApiClient(base, headers={"Authorization": "Bearer t"}, max_attempts=2, sleep=lambda s: None)
            err = raised(lambda c=client: c.get("/v2/reports", params={"ids": "channel==MINE"}))
        finally:
            sandbox.reset_faults()
        assert isinstance(err, RetryableApiError), (storm, err)
        assert action(err) == RetryAction.RETRY


def test_a_408_is_transient():
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            self.send_response(408)
            self.end_headers()

        def log_message(self, *args):
            return None

    server = HTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = ApiClient(f"http://127.0.0.1:{server.server_port}", max_attempts=2, sleep=lambda s: None)
        err = raised(lambda: client.get("/x"))
    finally:
        server.shutdown()
    assert isinstance(err, RetryableApiError) and action(err) == RetryAction.RETRY


def test_the_soft_limit_is_derived_from_the_hard_one_and_may_be_overridden():
    assert derive_soft_limit(timedelta(minutes=30)) == timedelta(minutes=27)
    assert derive_soft_limit(timedelta(hours=1)) == timedelta(minutes=55)  # ads: hard 1 h, soft 55 min
    assert derive_soft_limit(timedelta(minutes=4)) == timedelta(minutes=3)
    declared = {"execution_timeout": timedelta(minutes=30), "soft_limit": timedelta(minutes=20)}
    assert soft_limit_of(timedelta(minutes=30), declared) == timedelta(minutes=20)
    assert soft_limit_of(timedelta(minutes=10), declared) == timedelta(minutes=9)  # a task's own hard limit
    assert soft_limit_of(None, declared) is None
