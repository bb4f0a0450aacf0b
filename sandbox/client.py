"""SandboxControl: drive a running sandbox's /_sandbox control routes from tests and tools."""

from __future__ import annotations

import time

import requests


class SandboxControl:
    def __init__(self, base_url: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def _call(self, method: str, path: str, **kwargs):
        response = self._http.request(method, f"{self.base_url}/_sandbox{path}",
                                      timeout=self.timeout, **kwargs)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict:
        return self._call("GET", "/health")

    def emails(self, to: str | None = None, subject_contains: str | None = None) -> list[dict]:
        """Caught emails in the order received (`to` matches an envelope recipient)."""
        params = {k: v for k, v in {"to": to, "subject_contains": subject_contains}.items() if v}
        return self._call("GET", "/emails", params=params)

    def clear_emails(self) -> None:
        self._call("DELETE", "/emails")

    def wait_for_emails(self, count: int, timeout: float = 10.0, **filters) -> list[dict]:
        """Poll until at least `count` emails match `filters`; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.emails(**filters)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(found)} of {count} emails matching {filters} "
                                   f"after {timeout}s")
            time.sleep(0.05)

    def requests(self, api: str | None = None) -> list[dict]:
        """Recorded API calls, oldest first, optionally of one API."""
        return self._call("GET", "/requests", params={"api": api} if api else None)

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def set_faults(self, api: str, **switches) -> dict:
        """e.g. set_faults("fcm", status_429=2, retry_after=1); returns the API's switches."""
        return self._call("POST", f"/faults/{api}", json=switches)

    def faults(self) -> dict[str, dict]:
        return self._call("GET", "/faults")

    def reset_faults(self) -> None:
        self._call("DELETE", "/faults")

    def pushes(self) -> list[dict]:
        return self._call("GET", "/pushes")

    def push_tokens(self) -> dict[str, int]:
        """{token: pushes received} since the last clear_pushes (counted with bodies kept or not)."""
        return self._call("GET", "/pushes/tokens")

    def keep_push_bodies(self, keep: bool) -> None:
        """False: FCM stops keeping the pushes `pushes()` lists and only counts their tokens."""
        self._call("PUT", "/pushes/keep", json={"bodies": keep})

    def clear_pushes(self) -> None:
        self._call("DELETE", "/pushes")

    def reset(self) -> None:
        """Everything back to empty: emails, requests, pushes and fault switches (and FCM keeping
        push bodies again)."""
        self.clear_emails()
        self.clear_requests()
        self.clear_pushes()
        self.keep_push_bodies(True)
        self.reset_faults()
