"""OpenAI-compatible chat completions: POST /v1/chat/completions and GET /v1/models.

The answer is a deterministic function of the messages (a hash picks the wording) and
repeats only numbers that appear in the user messages, so callers' "no invented numbers"
checks pass; a user message containing `[sandbox:invent]` gets one made-up number added so
those checks can be seen to fail."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid

from fastapi import Request

from sandbox.errors import error_response, openai_error
from sandbox.malformed import malformed_records
from sandbox.registry import SandboxApi
from sandbox.request_parsing import bearer_token, json_body

api = SandboxApi(name="llm", error_body=openai_error)

INVENT_MARKER = "[sandbox:invent]"
MODELS = ("sandbox-small", "sandbox-large")
MODELS_CREATED = 1_700_000_000
ROLES = {"system", "developer", "user", "assistant", "tool"}
# A number as written: 1,234 / 12.5 / 45% / -3, not a digit inside a word such as "v2".
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*%?")
MAX_NUMBERS = 6

OPENINGS = ("In short:", "Summary of the period:", "Here is the overview.")
FIGURES = ("The figures to note are {numbers}.", "Key numbers were {numbers}.",
           "The period is described by {numbers}.")
HEADLINES = ("{first} is the headline figure.", "Most attention goes to {first}.",
             "{first} stands out.")
NO_FIGURES = "No figures were given, so none are reported."


def _unauthorized():
    return error_response(401, openai_error(
        401, "You didn't provide an API key. Provide it in an Authorization: Bearer header.",
        error_code="invalid_api_key"))


def _text(content) -> str:
    """Message content as text: a string, or the text parts of a content-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _validation_error(body) -> tuple[str, str] | None:
    """(message, param) of the first problem in a request, or None."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request.", "body"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter", "model"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array", "messages"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return f"Invalid value for 'messages[{index}].role'", f"messages[{index}].role"
    if body.get("stream"):
        return "stream=true is not supported by the sandbox", "stream"
    return None


def _numbers(text: str) -> list[str]:
    return list(dict.fromkeys(NUMBER.findall(text)))[:MAX_NUMBERS]


def _invented(seed: int, text: str) -> str:
    """A number that does not occur anywhere in `text`."""
    candidate = 1000 + seed % 9000
    while str(candidate) in text:
        candidate += 1
    return str(candidate)


def narrative(messages: list[dict]) -> str:
    """The deterministic answer to a conversation."""
    seed = int.from_bytes(hashlib.sha256(
        json.dumps(messages, sort_keys=True).encode()).digest()[:8], "big")
    user_text = "\n".join(_text(m.get("content")) for m in messages if m.get("role") == "user")
    numbers = _numbers(user_text)
    sentences = [OPENINGS[seed % len(OPENINGS)]]
    if numbers:
        sentences.append(FIGURES[seed // 3 % len(FIGURES)].format(numbers=", ".join(numbers)))
        sentences.append(HEADLINES[seed // 9 % len(HEADLINES)].format(first=numbers[0]))
    else:
        sentences.append(NO_FIGURES)
    if INVENT_MARKER in user_text:
        sentences.append(f"About {_invented(seed, user_text)} more came from other sources.")
    return " ".join(sentences)


def _tokens(text: str) -> int:
    return len(text.split())


@api.router.post("/v1/chat/completions")
async def chat_completions(request: Request):
    if bearer_token(request) is None:
        return _unauthorized()
    body = await json_body(request)
    problem = _validation_error(body)
    if problem:
        message, param = problem
        return error_response(400, openai_error(400, message, param=param))
    content = narrative(body["messages"])
    prompt_tokens = sum(_tokens(_text(m.get("content"))) for m in body["messages"])
    completion_tokens = _tokens(content)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": "fp_sandbox",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


@api.router.get("/v1/models")
async def list_models(request: Request):
    if bearer_token(request) is None:
        return _unauthorized()
    models = [{"id": m, "object": "model", "created": MODELS_CREATED, "owned_by": "sandbox"}
              for m in MODELS]
    return {"object": "list", "data": malformed_records(request, models, required=("id",))}
