"""ApiClient against a real HTTP server on loopback that injects 429s, 5xx, resets and delays."""

from __future__ import annotations

import json
import logging
import random
import socket
import time
from email.utils import formatdate

import pytest

from include.common.http import (
    ApiClient,
    ApiError,
    RetryableApiError,
    parse_retry_after,
)


def client(server, sleeps=None, **kwargs) -> ApiClient:
    kwargs.setdefault("rng", random.Random(7))
    return ApiClient(server.url, sleep=sleeps if sleeps is not None else time.sleep, **kwargs)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_429_storm_waits_as_told_then_succeeds(api_server, sleeps):
    api_server.fail_next(3, 429, {"Retry-After": "2"})
    assert client(api_server, sleeps).get("/ok")["ok"] is True
    assert sleeps == [2.0, 2.0, 2.0]
    assert api_server.paths() == ["/ok"] * 4


def test_429_really_waits(api_server):
    api_server.fail_next(1, 429, {"Retry-After": "1"})
    started = time.monotonic()
    client(api_server).get("/ok")
    assert 1.0 <= time.monotonic() - started < 1.5
    first, second = api_server.requests
    assert second.at - first.at >= 1.0


def test_429_retry_after_as_http_date(api_server, sleeps):
    api_server.fail_next(1, 429, {"Retry-After": formatdate(time.time() + 3, usegmt=True)})
    client(api_server, sleeps).get("/ok")
    assert len(sleeps) == 1 and 1.9 < sleeps[0] <= 3.0  # an HTTP date has 1 s resolution


def test_429_longer_than_max_wait_fails_at_once(api_server, sleeps):
    api_server.fail_next(1, 429, {"Retry-After": "3600"})
    with pytest.raises(RetryableApiError, match="Retry-After 3600 s exceeds the 300 s max wait") as err:
        client(api_server, sleeps, max_retry_after=300).get("/ok")
    assert err.value.status == 429
    assert sleeps == [] and len(api_server.requests) == 1


def test_429_without_retry_after_backs_off(api_server, sleeps):
    api_server.fail_next(2, 429)
    client(api_server, sleeps, backoff_base=1.0).get("/ok")
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 2.0


def test_5xx_burst_backs_off_exponentially_then_succeeds(api_server, sleeps):
    api_server.fail_next(4, 503)
    assert client(api_server, sleeps, backoff_base=0.5, backoff_cap=2.0).get("/ok")["ok"]
    assert len(sleeps) == 4 and len(api_server.requests) == 5
    for attempt, slept in enumerate(sleeps, start=1):  # full jitter within the capped exponential
        assert 0 <= slept <= min(2.0, 0.5 * 2 ** (attempt - 1))


def test_5xx_that_outlasts_the_attempts_is_retryable(api_server, sleeps):
    api_server.fail_next(10, 502, body={"message": "upstream down"})
    with pytest.raises(RetryableApiError, match="gave up after 3 attempts, last: 502 upstream down"):
        client(api_server, sleeps, max_attempts=3).get("/ok")
    assert len(api_server.requests) == 3 and len(sleeps) == 2


def test_503_with_retry_after_waits_as_told(api_server, sleeps):
    api_server.fail_next(1, 503, {"Retry-After": "4"})
    client(api_server, sleeps).get("/ok")
    assert sleeps == [4.0]


@pytest.mark.parametrize("fmt", ["graph", "flat", "text"])
def test_permanent_400_fails_at_once_with_the_api_message(api_server, sleeps, fmt):
    with pytest.raises(ApiError) as err:
        client(api_server, sleeps).get("/bad", params={"fmt": fmt})
    assert not isinstance(err.value, RetryableApiError)
    assert err.value.status == 400 and err.value.message == "Invalid metric: views_total"
    assert str(err.value) == f"GET {api_server.url}/bad -> 400: Invalid metric: views_total"
    assert sleeps == [] and len(api_server.requests) == 1


def test_connection_refused_is_retried_then_retryable_without_leaking_the_query(sleeps, caplog):
    dead = ApiClient(f"http://127.0.0.1:{closed_port()}", sleep=sleeps, max_attempts=3, params={"key": "s3cret"})
    with pytest.raises(RetryableApiError, match="gave up after 3 attempts, last: ConnectionError") as err:
        dead.get("/ok")
    assert len(sleeps) == 2
    assert "s3cret" not in str(err.value) and "s3cret" not in caplog.text and "/ok?<query>" in caplog.text
    # a POST that never reached a server is safe to resend
    with pytest.raises(RetryableApiError, match="gave up after 3 attempts"):
        dead.post("/send", json={})
    assert len(sleeps) == 4


def test_read_timeout_and_reset_are_retried(api_server, sleeps):
    api_server.delay_next(1, 0.5)
    api_server.drop_next(1)
    assert client(api_server, sleeps, timeout=(1.0, 0.2)).get("/ok")["ok"]
    assert len(api_server.requests) == 3 and len(sleeps) == 2


def test_post_is_not_resent_after_an_ambiguous_failure(api_server, sleeps):
    api_server.fail_next(1, 500)
    with pytest.raises(RetryableApiError, match="not retried: the request may have been processed"):
        client(api_server, sleeps).post("/ok", json={"send": 1})
    api_server.drop_next(1)
    with pytest.raises(RetryableApiError, match="not retried: the request may have been processed"):
        client(api_server, sleeps).post("/ok", json={"send": 1})
    api_server.fail_next(1, 429, {"Retry-After": "1"})  # refused, so certainly not processed
    assert client(api_server, sleeps).post("/ok", json={"send": 2})["body"] == {"send": 2}
    assert sleeps == [1.0]
    assert [json.loads(r.body) for r in api_server.requests] == [{"send": 1}] * 2 + [{"send": 2}] * 2


def test_credentials_params_and_limiter_on_every_attempt(api_server, sleeps):
    taken = []

    class Limiter:
        def acquire(self):
            taken.append(time.monotonic())

    api_server.fail_next(1, 503)
    api = client(api_server, sleeps, headers={"Authorization": "Bearer tok-123", "x-app-id": "app"},
                 params={"key": "k1"}, rate_limiter=Limiter())
    assert api.get("/ok", params={"q": "1"})["query"] == {"key": "k1", "q": "1"}
    assert len(taken) == 2  # the retry took a token too
    for seen in api_server.requests:
        assert seen.headers["Authorization"] == "Bearer tok-123" and seen.headers["x-app-id"] == "app"


def test_each_retry_is_logged_with_its_reason(api_server, sleeps, caplog):
    api_server.fail_next(1, 503, body={"error": {"message": "backend busy"}})
    api_server.fail_next(1, 429, {"Retry-After": "1"})
    with caplog.at_level(logging.WARNING, logger="include.common.http"):
        client(api_server, sleeps).get("/ok", params={"access_token": "secret"})
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith(f"GET {api_server.url}/ok: 503 backend busy; retry 1 of 4 in ")
    assert lines[1] == f"GET {api_server.url}/ok: 429 injected 429; retry 2 of 4 in 1.00 s"
    assert "secret" not in caplog.text


def test_parse_retry_after():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: go now
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


EXPECTED = [f"r{i}" for i in range(25)]


def test_cursor_pagination(api_server):
    api = client(api_server)
    ids = [r["id"] for r in api.paginate_cursor("/cursor", params={"limit": 10}, items="data")]
    assert ids == EXPECTED
    assert [r.query.get("after") for r in api_server.requests] == [None, "c10", "c20"]
    pages = list(api.paginate_cursor("/cursor", params={"limit": 25}))
    assert len(pages) == 1 and "next" not in pages[0]["paging"]
    assert [r["id"] for r in api.paginate_cursor("/cursorless", items="data")] == EXPECTED


def test_page_token_pagination_get_and_post(api_server):
    api = client(api_server)
    ids = [r["id"] for r in api.paginate_token("/token", params={"maxResults": 10}, items="items")]
    assert ids == EXPECTED
    assert [r.query.get("pageToken") for r in api_server.requests] == [None, "10", "20"]
    pages = list(api.paginate_token("/token", params={"maxResults": 10}, json={"query": "x"}))
    assert len(pages) == 3
    assert [json.loads(r.body) for r in api_server.requests[3:]] == [
        {"query": "x"}, {"query": "x", "pageToken": "10"}, {"query": "x", "pageToken": "20"}]


def test_next_link_pagination(api_server):
    api = client(api_server)
    ids = [r["id"] for r in api.paginate_next_link("/next", params={"fields": "all"}, items="results")]
    assert ids == EXPECTED
    assert [r.query for r in api_server.requests] == [
        {"fields": "all"}, {"offset": "10", "fields": "all"}, {"offset": "20", "fields": "all"}]


def test_page_number_pagination(api_server):
    api = client(api_server)
    ids = [r["id"] for r in api.paginate_pages("/pages", page_size=10, items="data.list")]
    assert ids == EXPECTED
    assert [r.query["page"] for r in api_server.requests] == ["1", "2", "3"]


def test_pagination_stops_on_a_repeated_cursor_and_a_foreign_next_link(api_server):
    api = client(api_server)
    with pytest.raises(ApiError, match="repeats a cursor"):
        list(api.paginate_cursor("/loop"))
    assert len(api_server.requests) == 2
    with pytest.raises(ApiError, match="next link leaves 127.0.0.1"):
        list(api.paginate_next_link("/elsewhere"))
