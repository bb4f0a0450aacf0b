"""An OpenAI-compatible chat-completions client: `POST /v1/chat/completions`.

Built on include/common/http.py's ApiClient (one per thread: its requests.Session is not
thread-safe), whose base URL is the API's root (`https://api.openai.com`, the sandbox's).
A POST is retried there only when it certainly was not processed, unless it says it is
idempotent; a chat completion has no side effect (a second answer just replaces the
first), so it is sent with `idempotent=True` and 5xx answers and timeouts are retried too.
"""

from __future__ import annotations

from typing import Any

from include.common.http import ApiClient, ApiError

PATH = "/v1/chat/completions"


class LlmAnswerError(ApiError):
    """The API answered 200 with something that is not a usable completion (the API's error)."""


class ChatClient:
    def __init__(self, api: ApiClient, model: str, *, temperature: float = 0.2, max_tokens: int = 400):
        if not model:
            raise ValueError("a chat-completions client needs a model name")
        self.api, self.model = api, model
        self.temperature, self.max_tokens = temperature, max_tokens

    def complete(self, messages: list[dict[str, Any]]) -> str:
        """The assistant's text for `messages`. Raises include.common.http.ApiError (the API
        refused, or failed after the client's retries) or LlmAnswerError."""
        body = {"model": self.model, "messages": messages, "temperature": self.temperature,
                "max_tokens": self.max_tokens}
        answer = self.api.post(PATH, json=body, idempotent=True)
        try:
            choice = answer["choices"][0]
            content = choice["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LlmAnswerError(f"answer has no choices[0].message.content: {str(answer)[:200]}") from exc
        if not isinstance(content, str) or not content.strip():
            raise LlmAnswerError(f"empty completion (finish_reason {choice.get('finish_reason')!r})")
        if choice.get("finish_reason") == "length":  # cut off mid-sentence: not a narrative to keep
            raise LlmAnswerError(f"completion truncated at max_tokens={self.max_tokens}")
        return content.strip()

    def close(self) -> None:
        self.api.close()
