"""Fixtures for the shared services: a fault-injecting JSON API on loopback, real Redis."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

ITEMS = 25  # records behind every paginated route


def record(i: int, malformed: bool = False) -> dict:
    if malformed:  # a wrong type and a missing field, as a changed upstream schema would send
        return {"id": f"r{i}", "value": "n/a"}
    return {"id": f"r{i}", "name": f"item {i}", "value": i * 1.5}


@dataclass
class Seen:
    at: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class ApiServer:
    """The server's switches (faults for the next N requests) and the requests it received."""

    url: str = ""
    requests: list[Seen] = field(default_factory=list)
    faults: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, n: int, status: int, headers: dict | None = None, body: object = None) -> None:
        self.faults.extend({"status": status, "headers": headers or {}, "body": body} for _ in range(n))

    def delay_next(self, n: int, seconds: float) -> None:
        self.faults.extend({"delay": seconds} for _ in range(n))

    def drop_next(self, n: int) -> None:
        self.faults.extend({"drop": True} for _ in range(n))

    def take_fault(self) -> dict | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall
    state: ApiServer

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        self.handle_any()

    def do_POST(self) -> None:
        self.handle_any()

    def send_json(self, status: int, payload: object, headers: dict | None = None) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.state.requests.append(Seen(time.time(), self.command, parts.path, query, dict(self.headers), body))
        fault = self.state.take_fault()
        if fault and fault.get("drop"):
            self.close_connection = True  # no answer at all: the client sees a reset
            return
        if fault and "delay" in fault:
            time.sleep(fault["delay"])
        if fault and "status" in fault:
            default = {"error": {"message": f"injected {fault['status']}"}}
            return self.send_json(fault["status"], fault["body"] or default, fault["headers"])
        route = getattr(self, "route_" + parts.path.strip("/").replace("/", "_"), None)
        if route is None:
            return self.send_json(404, {"message": f"no route {parts.path}"})
        json_body = json.loads(body) if body else {}
        status, payload = route(query, json_body)
        self.send_json(status, payload)

    def route_ok(self, q: dict, body: dict) -> tuple[int, object]:
        return 200, {"ok": True, "query": q, "body": body}

    def route_bad(self, q: dict, body: dict) -> tuple[int, object]:
        """A permanent 400 in each error format the client must read."""
        message = "Invalid metric: views_total"
        payloads = {"graph": {"error": {"message": message, "type": "OAuthException", "code": 100}},
                    "flat": {"code": 40002, "message": message},
                    "text": message.encode()}
        return 400, payloads[q.get("fmt", "graph")]

    def route_records(self, q: dict, body: dict) -> tuple[int, object]:
        """`n` records, every k-th malformed so that a fraction `malformed` of them are."""
        n, share = int(q.get("n", 100)), float(q.get("malformed", 0))
        bad = round(n * share)
        step = n / bad if bad else 0
        bad_at = {int(k * step) for k in range(bad)}
        return 200, {"data": [record(i, i in bad_at) for i in range(n)]}

    def route_cursor(self, q: dict, body: dict) -> tuple[int, object]:
        """Meta Graph API: `after` cursors, `paging.next` only while more remain."""
        start, limit = int(q.get("after", "c0")[1:]), int(q.get("limit", 10))
        end = min(start + limit, ITEMS)
        paging: dict = {"cursors": {"before": f"c{start}", "after": f"c{end}"}}
        if end < ITEMS:
            paging["next"] = f"{self.state.url}/cursor?limit={limit}&after=c{end}&access_token=secret"
        return 200, {"data": [record(i) for i in range(start, end)], "paging": paging}

    def route_cursorless(self, q: dict, body: dict) -> tuple[int, object]:
        """Meta's time- and offset-based paging: only `paging.next` links, no cursors."""
        start = int(q.get("offset", 0))
        end = min(start + 10, ITEMS)
        paging = {"next": f"{self.state.url}/cursorless?offset={end}"} if end < ITEMS else {}
        return 200, {"data": [record(i) for i in range(start, end)], "paging": paging}

    def route_token(self, q: dict, body: dict) -> tuple[int, object]:
        """Google APIs: `pageToken` in (query or JSON body), `nextPageToken` out, absent at the end."""
        token = body.get("pageToken") or q.get("pageToken") or "0"
        start, size = int(token), int(q.get("maxResults", 10))
        end = min(start + size, ITEMS)
        page: dict = {"kind": "test#list", "items": [record(i) for i in range(start, end)]}
        if end < ITEMS:
            page["nextPageToken"] = str(end)
        return 200, page

    def route_next(self, q: dict, body: dict) -> tuple[int, object]:
        """Next-link APIs: an absolute `next` URL carrying the whole query, null at the end."""
        start = int(q.get("offset", 0))
        end = min(start + 10, ITEMS)
        nxt = f"{self.state.url}/next?offset={end}&fields=all" if end < ITEMS else None
        return 200, {"results": [record(i) for i in range(start, end)], "next": nxt}

    def route_pages(self, q: dict, body: dict) -> tuple[int, object]:
        """TikTok Business API: `page`/`page_size` and data.page_info.total_page."""
        page, size = int(q["page"]), int(q["page_size"])
        rows = [record(i) for i in range((page - 1) * size, min(page * size, ITEMS))]
        total_page = -(-ITEMS // size)
        info = {"page": page, "page_size": size, "total_number": ITEMS, "total_page": total_page}
        return 200, {"code": 0, "message": "OK", "data": {"list": rows, "page_info": info}}

    def route_loop(self, q: dict, body: dict) -> tuple[int, object]:
        """A broken API that hands back the same cursor forever."""
        return 200, {"data": [record(0)], "paging": {"cursors": {"after": "same"}, "next": "x"}}

    def route_elsewhere(self, q: dict, body: dict) -> tuple[int, object]:
        return 200, {"results": [], "next": "http://evil.example/steal"}


@pytest.fixture
def api_server() -> Iterator[ApiServer]:
    state = ApiServer()
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


class RecordingSleep(list):
    """An injected `sleep` that records what it was asked to wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture(scope="session")
def redis_url(session_env: dict) -> str:
    """The real Redis (JOBYARD_REDIS_URL, else the test session's); a missing one fails the
    tests rather than skipping them: the limiter is never optional."""
    url = os.environ.get("JOBYARD_REDIS_URL") or session_env.get("redis") or "redis://127.0.0.1:6379/0"
    redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    return url


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own, deleted afterwards."""
    prefix = f"jobyard:test:{uuid.uuid4().hex[:12]}:ratelimit:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
