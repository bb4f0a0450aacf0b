"""The /_sandbox control routes: caught emails, recorded requests, fault switches, health."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from sandbox.faults import FaultSwitches, UnknownApiError

router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])


@router.get("/health")
def health() -> dict:
    return {"ok": True}


@router.get("/emails")
def list_emails(request: Request, to: str | None = None,
                subject_contains: str | None = None) -> list[dict]:
    return request.app.state.sandbox.emails.list(to=to, subject_contains=subject_contains)


@router.delete("/emails")
def clear_emails(request: Request) -> dict:
    request.app.state.sandbox.emails.clear()
    return {"ok": True}


@router.get("/requests")
def list_requests(request: Request, api: str | None = None) -> list[dict]:
    return request.app.state.sandbox.requests.list(api=api)


@router.delete("/requests")
def clear_requests(request: Request) -> dict:
    request.app.state.sandbox.requests.clear()
    return {"ok": True}


@router.get("/faults")
def show_faults(request: Request) -> dict[str, dict]:
    return request.app.state.sandbox.faults.snapshot()


@router.post("/faults/{api}")
def set_faults(api: str, switches: FaultSwitches, request: Request) -> dict:
    """Only the switches present in the body change; the others keep their value."""
    try:
        merged = request.app.state.sandbox.faults.set(api, switches.model_dump(exclude_unset=True))
    except UnknownApiError as exc:
        raise HTTPException(404, str(exc)) from exc
    return merged.model_dump()


@router.delete("/faults")
def reset_faults(request: Request) -> dict:
    request.app.state.sandbox.faults.reset()
    return {"ok": True}
