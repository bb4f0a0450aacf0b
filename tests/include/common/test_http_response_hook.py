"""ApiClient's response hook, the way an API without 429 + Retry-After signals throttling:
the hook's wait is slept and retried under the client's attempts and max wait; an error it
raises ends the request at once; None leaves the usual handling."""

from __future__ import annotations

import pytest
import requests

from include.common.http import ApiClient, ApiError, RetryableApiError


class Answers(requests.Session):
    """A session that answers (status, body) pairs in turn, without a network."""

    def __init__(self, answers):
        super().__init__()
        self.answers, self.calls = list(answers), 0

    def request(self, method, url, **kwargs):
        status, body = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        response = requests.Response()
        response.status_code, response._content, response.url = status, body.encode(), url
        response.request = requests.Request(method, url).prepare()
        return response


def throttle_code(response):
    if b'"code": 40100' in response.content:
        return 3.0
    if b'"code": 40105' in response.content:
        raise ApiError("revoked", status=response.status_code)
    return None


def make(answers, **kwargs):
    sleeps: list[float] = []
    session = Answers(answers)
    return ApiClient("http://api.test", session=session, sleep=sleeps.append, response_hook=throttle_code,
                     **kwargs), session, sleeps


def test_a_200_throttle_code_is_waited_out_then_the_answer_returned():
    client, session, sleeps = make([(200, '{"code": 40100}'), (200, '{"code": 40100}'), (200, '{"code": 0}')])
    assert client.get("x") == {"code": 0}
    assert sleeps == [3.0, 3.0] and session.calls == 3


def test_the_hook_wait_respects_the_attempts_and_the_max_wait():
    client, session, sleeps = make([(200, '{"code": 40100}')], max_attempts=2)
    with pytest.raises(RetryableApiError, match="after attempt 2"):
        client.get("x")
    assert session.calls == 2 and sleeps == [3.0]
    client, session, sleeps = make([(200, '{"code": 40100}')], max_retry_after=1)
    with pytest.raises(RetryableApiError, match="asked to wait 3"):
        client.get("x")
    assert session.calls == 1 and sleeps == []


def test_an_error_raised_by_the_hook_ends_the_request_and_none_keeps_the_usual_handling():
    client, session, _ = make([(200, '{"code": 40105}')])
    with pytest.raises(ApiError, match="revoked"):
        client.get("x")
    assert session.calls == 1
    client, session, _ = make([(400, '{"error": "bad"}')])
    with pytest.raises(ApiError) as caught:
        client.get("x")
    assert caught.value.status == 400 and not isinstance(caught.value, RetryableApiError)
