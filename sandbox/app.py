"""The FastAPI app: control routes, email pages and every registered API."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from sandbox import control, email_pages
from sandbox.registry import SandboxApi
from sandbox.state import SandboxState


def _check_no_overlap(app: FastAPI) -> None:
    """All APIs share one host, so two modules serving the same path must fail loudly."""
    seen: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, APIRoute):
            for method in route.methods:
                key = (method, route.path)
                if key in seen:
                    raise ValueError(f"two sandbox routes serve {method} {route.path}")
                seen.add(key)


def create_app(state: SandboxState, apis: list[SandboxApi]) -> FastAPI:
    app = FastAPI(title="jobyard sandbox", docs_url="/_sandbox/docs",
                  openapi_url="/_sandbox/openapi.json", redoc_url=None)
    app.state.sandbox = state
    app.include_router(control.router)
    app.include_router(email_pages.router)
    for api in apis:
        app.include_router(api.control)
        app.include_router(api.router)
    _check_no_overlap(app)
    return app
