"""OpenAI-compatible chat completions: shape, determinism, number handling."""

from __future__ import annotations

import re

import requests

AUTH = {"Authorization": "Bearer sk-sandbox"}
NUMBERS = re.compile(r"\d+(?:[.,]\d+)*")


def chat(base_url: str, user: str, headers=AUTH, **extra):
    body = {"model": "sandbox-small", "messages": [
        {"role": "system", "content": "You write 3 short sentences for 24 readers."},
        {"role": "user", "content": user}], **extra}
    return requests.post(f"{base_url}/v1/chat/completions", json=body, headers=headers,
                         timeout=10)


def content(answer) -> str:
    return answer.json()["choices"][0]["message"]["content"]


def test_response_shape(base_url):
    answer = chat(base_url, "Views were 1,234 and watch time 56.5 hours.")
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "sandbox-small"
    [choice] = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_same_request_same_content_and_only_user_numbers(base_url):
    user = "Views were 1,234 (up 12%) and watch time 56.5 hours."
    first, second = content(chat(base_url, user)), content(chat(base_url, user))
    assert first == second
    assert set(NUMBERS.findall(first)) == {"1,234", "12", "56.5"}  # not the system's 3 or 24
    assert content(chat(base_url, "Views were 99.")) != first


def test_invent_marker_adds_a_number_not_in_the_input(base_url):
    user = "Views were 1,234. [sandbox:invent]"
    invented = set(NUMBERS.findall(content(chat(base_url, user)))) - set(NUMBERS.findall(user))
    assert len(invented) == 1


def test_auth_and_validation(base_url):
    unauthorized = chat(base_url, "hi", headers={})
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["code"] == "invalid_api_key"

    no_messages = requests.post(f"{base_url}/v1/chat/completions", headers=AUTH, timeout=10,
                                json={"model": "sandbox-small", "messages": []})
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["param"] == "messages"
    assert chat(base_url, "hi", stream=True).status_code == 400


def test_models(base_url):
    answer = requests.get(f"{base_url}/v1/models", headers=AUTH, timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["object"] == "list"
    assert {m["id"] for m in body["data"]} == {"sandbox-small", "sandbox-large"}
