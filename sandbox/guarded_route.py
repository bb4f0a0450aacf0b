"""The route class of every API router: applies the API's fault switches and records the
call with its final status. A route class (not a dependency) is used because it sees the
response status, and because it wraps every route of an API without per-route code."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from sandbox.request_log import logged_body, logged_headers

ErrorBody = Callable[[int, str], dict]
# (status 429 or 503, retry_after) -> the answer, for providers whose throttling is not a plain
# error body (ACRCloud answers HTTP 200 with a status code, Soundcharts adds headers).
FaultResponse = Callable[[int, int], Response]

FAULT_MESSAGES = {
    429: "Quota exceeded (sandbox fault switch status_429).",
    503: "The service is currently unavailable (sandbox fault switch status_5xx).",
}


def guarded_route_class(api_name: str, error_body: ErrorBody,
                        fault_response: FaultResponse | None = None) -> type[APIRoute]:
    """An APIRoute subclass bound to one API's name and error format."""

    class GuardedRoute(APIRoute):
        def get_route_handler(self) -> Callable:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                state = request.app.state.sandbox
                decision = state.faults.take(api_name)
                request.state.sandbox_api = api_name
                request.state.malformed_fraction = decision.malformed_fraction
                request.state.malformed_count = 0
                raw = await request.body()  # cached by Starlette: the handler reads it again
                started = datetime.now(UTC)
                status, fault = 500, None
                try:
                    if decision.delay:
                        await asyncio.sleep(decision.delay)
                    if decision.status is not None and fault_response is not None:
                        fault = f"status_{decision.status}"
                        response: Response = fault_response(decision.status, decision.retry_after)
                    elif decision.status is not None:
                        fault = f"status_{decision.status}"
                        headers = ({"Retry-After": str(decision.retry_after)}
                                   if decision.status == 429 else None)
                        response = JSONResponse(
                            error_body(decision.status, FAULT_MESSAGES[decision.status]),
                            status_code=decision.status, headers=headers)
                    else:
                        response = await handler(request)
                    status = response.status_code
                    return response
                except HTTPException as exc:
                    status = exc.status_code
                    raise
                except RequestValidationError:
                    status = 422
                    raise
                finally:
                    state.requests.add({
                        "api": api_name,
                        "method": request.method,
                        "path": request.url.path,
                        "query": dict(request.query_params),
                        "headers": logged_headers(request.headers),
                        "body": logged_body(request.headers.get("content-type", ""), raw),
                        "time": started.isoformat(),
                        "status": status,
                        "fault": fault,
                        "malformed": request.state.malformed_count,
                    })

            return guarded

    GuardedRoute.__name__ = GuardedRoute.__qualname__ = f"GuardedRoute[{api_name}]"
    return GuardedRoute
