"""Fault switches per API: the next calls answer 429 or 503, answers come slowly, or list
answers carry malformed records. Clients are tested against these instead of mocks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class FaultSwitches(BaseModel):
    """The switches of one API. Counters are consumed call by call; the rest persist."""

    model_config = ConfigDict(extra="forbid")  # a misspelt switch must fail, not be ignored

    status_429: int = Field(0, ge=0, description="the next N calls answer 429")
    retry_after: int = Field(1, ge=0, description="Retry-After seconds sent with each 429")
    status_5xx: int = Field(0, ge=0, description="the next N calls answer 503")
    delay: float = Field(0.0, ge=0, description="seconds to sleep before every answer")
    malformed_fraction: float = Field(0.0, ge=0, le=1, description="share of bad list records")


@dataclass(frozen=True)
class FaultDecision:
    """What the switches say about one call."""

    delay: float
    status: int | None  # 429 or 503 when this call must fail, else None
    retry_after: int
    malformed_fraction: float


class UnknownApiError(KeyError):
    """A switch was addressed to an API the sandbox does not serve."""


class FaultBoard:
    """Thread-safe switches of every API (control calls and API calls race)."""

    def __init__(self, api_names: Iterable[str]):
        self._known = frozenset(api_names)
        self._switches: dict[str, FaultSwitches] = {}
        self._lock = threading.Lock()

    def set(self, api: str, changes: dict) -> FaultSwitches:
        """Merge `changes` (any subset of the switches) into the API's switches."""
        if api not in self._known:
            raise UnknownApiError(f"unknown api {api!r}; known: {sorted(self._known)}")
        with self._lock:
            current = self._switches.get(api, FaultSwitches())
            merged = FaultSwitches.model_validate({**current.model_dump(), **changes})
            self._switches[api] = merged
            return merged

    def reset(self) -> None:
        with self._lock:
            self._switches.clear()

    def snapshot(self) -> dict[str, dict]:
        with self._lock:
            return {api: self._switches.get(api, FaultSwitches()).model_dump()
                    for api in sorted(self._known)}

    def take(self, api: str) -> FaultDecision:
        """Decide the fate of one call, consuming one 429 (first) or 503 count."""
        with self._lock:
            switches = self._switches.get(api)
            if switches is None:
                return FaultDecision(0.0, None, 0, 0.0)
            status = None
            if switches.status_429:
                switches.status_429 -= 1
                status = 429
            elif switches.status_5xx:
                switches.status_5xx -= 1
                status = 503
            return FaultDecision(switches.delay, status, switches.retry_after,
                                 switches.malformed_fraction)


def parse_preset(text: str) -> dict[str, dict]:
    """Parse `SANDBOX_FAULTS` ('{"fcm": {"status_5xx": 2}}'); each entry is validated."""
    if not text.strip():
        return {}
    preset = json.loads(text)
    if not isinstance(preset, dict) or not all(isinstance(v, dict) for v in preset.values()):
        raise ValueError('SANDBOX_FAULTS must be a JSON object like {"fcm": {"status_5xx": 2}}')
    for switches in preset.values():
        FaultSwitches.model_validate(switches)
    return preset
