"""The API registry: each `sandbox/apis/<module>.py` declares one `api = SandboxApi(...)`
and registers routes on `api.router` (faults + recording) or `api.control` (sandbox-only
helpers under /_sandbox, never faulted or recorded). `sandbox/apis/__init__.py` lists them."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from fastapi import APIRouter

from sandbox.guarded_route import ErrorBody, FaultResponse, guarded_route_class


@dataclass
class SandboxApi:
    name: str  # the name used by fault switches, the request log and `?api=`
    error_body: ErrorBody  # (status, message) -> the provider's error JSON
    fault_response: FaultResponse | None = None  # replaces the default 429/503 answers
    router: APIRouter = field(init=False)
    control: APIRouter = field(init=False)

    def __post_init__(self) -> None:
        self.router = APIRouter(route_class=guarded_route_class(self.name, self.error_body,
                                                                self.fault_response),
                                tags=[self.name])
        self.control = APIRouter(prefix="/_sandbox", tags=[f"{self.name} (sandbox control)"])


def load_apis(module_names: Iterable[str] | None = None) -> list[SandboxApi]:
    """Import the API modules and return their declarations, checking names are unique."""
    if module_names is None:
        from sandbox.apis import API_MODULES
        module_names = API_MODULES
    apis: list[SandboxApi] = []
    for module_name in module_names:
        module = importlib.import_module(f"sandbox.apis.{module_name}")
        api = getattr(module, "api", None)
        if not isinstance(api, SandboxApi):
            raise TypeError(f"sandbox.apis.{module_name} must define `api = SandboxApi(...)`")
        if any(a.name == api.name for a in apis):
            raise ValueError(f"two sandbox APIs are named {api.name!r}")
        apis.append(api)
    return apis
