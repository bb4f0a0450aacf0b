"""Everything one running sandbox remembers; one instance per app, so tests can run several."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.email_store import EmailStore
from sandbox.faults import FaultBoard
from sandbox.request_log import RequestLog


class MemoryList:
    """A thread-safe list for what an API stores (e.g. FCM's sent pushes)."""

    def __init__(self) -> None:
        self._items: list[dict] = []
        self._lock = threading.Lock()

    def append(self, item: dict) -> None:
        with self._lock:
            self._items.append(item)

    def items(self) -> list[dict]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class MemoryCounter:
    """A thread-safe Counter (e.g. how many times FCM got each device token): what an
    exactly-once check needs, at a few dozen bytes per key instead of a whole body."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


@dataclass
class SandboxState:
    emails: EmailStore
    requests: RequestLog
    faults: FaultBoard
    _collections: dict[str, MemoryList] = field(default_factory=dict)
    _counters: dict[str, MemoryCounter] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)  # e.g. {"fcm_keep_bodies": False}
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def collection(self, name: str) -> MemoryList:
        """A named store for an API module, created on first use."""
        with self._lock:
            return self._collections.setdefault(name, MemoryList())

    def counter(self, name: str) -> MemoryCounter:
        """A named counter for an API module, created on first use."""
        with self._lock:
            return self._counters.setdefault(name, MemoryCounter())

    @classmethod
    def create(cls, data_dir: Path, api_names: list[str]) -> SandboxState:
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(emails=EmailStore(data_dir / "emails.jsonl"), requests=RequestLog(),
                   faults=FaultBoard(api_names))
