"""The operator's page in the Airflow UI: notifications, requeues, rate limits and health.

Served by the api-server itself: `fastapi_apps` mounts a FastAPI app at /operator (the HTML
page at /operator/, its JSON API under /operator/api/), and `external_views` puts it in the
UI's navigation ("Operator"), where the UI shows /operator/ in a frame of its own page
(/plugin/operator). What the page shows and does is include/platform/operator_page.py; this
file only authenticates, authorises, opens the connections and answers.

Security: every route needs an Airflow user through the api-server's own auth manager, the
same way the REST API does (airflow.api_fastapi.core_api.security.get_user): an
`Authorization: Bearer <JWT>` header, else the UI's `_token` cookie (the frame is
same-origin, so the UI's login carries over). No token -> 401. Reading needs read access to
the DAG `platform_deliver_notifications` (whose outbox this is); requeuing needs edit access
to it (PUT on its runs: the simple auth manager's `user`, `op` and `admin` roles, not
`viewer`) -> 403 otherwise. The requeue takes JSON only, which a cross-site form cannot send,
and the UI's cookie is SameSite=Lax.

The listener (`QueuedByListener`) runs in each task process: before the task runs it puts
`-c jobyard.queued_by=<dag_id>/<run_id>` in PGOPTIONS, so every libpq connection the task opens
carries it and `platform.outbox.queued_by` (migration 0012, a column default) records which
DAG run queued each message, without a change to the enqueue code.

FastAPI is imported only when the api-server asks for `fastapi_apps` (the property below):
Airflow imports every plugin file in every process, task processes included.
"""


import os
import re
import threading
import time
from functools import cache

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/operator"
DELIVERY_DAG = "platform_deliver_notifications"
DSN_TTL_SECONDS = 60.0
PGOPTION = "jobyard.queued_by"


def _strip_option(options: str) -> str:
    """PGOPTIONS without our setting (whatever else it holds is kept)."""
    return re.sub(r"\s*-c\s+" + re.escape(PGOPTION) + r"=(\\.|\S)*", "", options).strip()


class QueuedByListener:
    """Task-process hooks: the DAG run goes into the session setting of the task's connections."""

    @staticmethod
    def _in_task_process(task_instance) -> bool:
        # The scheduler and api-server call listeners with the ORM TaskInstance; only the task
        # runner's RuntimeTaskInstance is the process that runs the task's code.
        return type(task_instance).__name__ == "RuntimeTaskInstance"

    @hookimpl
    def on_task_instance_running(self, previous_state, task_instance):
        if not self._in_task_process(task_instance):
            return
        run = f"{task_instance.dag_id}/{task_instance.run_id}"
        value = run.replace("\\", "\\\\").replace(" ", "\\ ")  # libpq's escaping in options
        os.environ["PGOPTIONS"] = f"{_strip_option(os.environ.get('PGOPTIONS', ''))} -c {PGOPTION}={value}".strip()

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance):
        self._clear(task_instance)

    @hookimpl
    def on_task_instance_failed(self, previous_state, task_instance, error):
        self._clear(task_instance)

    @hookimpl
    def on_task_instance_skipped(self, previous_state, task_instance):
        self._clear(task_instance)

    def _clear(self, task_instance) -> None:
        """After the task (dag.test runs every task in one process): no stale run."""
        if not self._in_task_process(task_instance):
            return
        if kept := _strip_option(os.environ.get("PGOPTIONS", "")):
            os.environ["PGOPTIONS"] = kept
        else:
            os.environ.pop("PGOPTIONS", None)


class _PlatformDsn:
    """The `platform_db` DSN, looked up again after DSN_TTL_SECONDS (a changed connection is
    picked up without a restart)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[float, str] | None = None

    def __call__(self) -> str:
        from include.orchestration.connections import app_db

        with self._lock:
            if self._value is None or time.monotonic() - self._value[0] > DSN_TTL_SECONDS:
                self._value = (time.monotonic(), app_db("platform"))
            return self._value[1]


@cache
def build_app():
    """The FastAPI app (built once, in the api-server)."""
    from fastapi import Depends, FastAPI, HTTPException, Query, Request
    from fastapi.responses import HTMLResponse
    from fastapi.security import HTTPBearer
    from pydantic import BaseModel, Field

    from include.common.db import connect
    from include.common.rate_limit import load_limits
    from include.orchestration import clients, variables
    from include.platform import operator_page as page

    # The api-server is a server component, but unlike the scheduler and triggerer it does not
    # say so to the Task SDK, whose connection and variable lookups (PostgresHook, RedisHook,
    # Variable.get) then skip the metadata database, where `make run` keeps the connections.
    # This is the marker the SDK's secrets-backend detection reads (ensure_secrets_backend_loaded).
    os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")
    platform_dsn = _PlatformDsn()
    bearer = HTTPBearer(auto_error=False)
    app = FastAPI(title="jobyard operator page", docs_url=None, redoc_url=None, openapi_url=None)

    async def current_user(request: Request):
        """The caller's Airflow user, exactly as the REST API authenticates (401 without a token)."""
        from airflow.api_fastapi.core_api.security import get_user

        return await get_user(request, None, await bearer(request))

    def allowed(user, method: str) -> bool:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

        return get_auth_manager().is_authorized_dag(method=method, access_entity=DagAccessEntity.RUN,
                                                    details=DagDetails(id=DELIVERY_DAG), user=user)

    def reader(user=Depends(current_user)):  # noqa: B008
        if not allowed(user, "GET"):
            raise HTTPException(403, f"reading the outbox needs read access to the DAG {DELIVERY_DAG}")
        return user

    def editor(user=Depends(current_user)):  # noqa: B008
        if not allowed(user, "PUT"):
            raise HTTPException(403, f"requeuing needs edit access to the DAG {DELIVERY_DAG}")
        return user

    def query(q: str | None) -> str | None:
        try:
            return page.normalise_query(q)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc

    def rate_limits() -> tuple[list[dict] | None, str | None]:
        try:
            limits = load_limits(variables.get_json(clients.RATE_LIMITS_VARIABLE, {}))
            client = clients.redis_client()
            try:
                return page.rate_limit_usage(client, limits), None
            finally:
                client.close()
        except Exception as exc:  # the page still shows the rest; this section says why
            return None, f"{type(exc).__name__}: {exc}"

    class RequeueBody(BaseModel):
        message_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
        error_key: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")

    @app.get("/", response_class=HTMLResponse)
    def operator_page(q: str | None = Query(default=None, max_length=1000), user=Depends(reader)):  # noqa: B008
        q = query(q)
        with connect(platform_dsn(), application_name="jobyard-operator-page") as conn:
            data = page.overview(conn, q)
        usage, error = rate_limits()
        html = page.render_page(data, user=user.get_name(), can_requeue=allowed(user, "PUT"), rate_limits=usage,
                                rate_limits_error=error, base_path=URL_PREFIX)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/api/overview")
    def overview(user=Depends(reader)):  # noqa: B008
        with connect(platform_dsn(), application_name="jobyard-operator-page") as conn:
            data = page.overview(conn)
        usage, error = rate_limits()
        return {**data, "rate_limits": usage, "rate_limits_error": error}

    @app.get("/api/messages")
    def messages(q: str = Query(max_length=1000), user=Depends(reader)):  # noqa: B008
        q = query(q)
        if q is None:
            raise HTTPException(422, "give a recipient or dedupe key to search for")
        with connect(platform_dsn(), application_name="jobyard-operator-page") as conn:
            return {"query": q, "messages": page.search_messages(conn, q)}

    @app.post("/api/requeue")
    def requeue(body: RequeueBody, user=Depends(editor)):  # noqa: B008
        try:
            with connect(platform_dsn(), application_name="jobyard-operator-page") as conn:
                return page.requeue(conn, user.get_name(), message_id=body.message_id, error_key=body.error_key)
        except page.RequeueError as exc:
            raise HTTPException(422, str(exc)) from exc

    return app


class OperatorPagePlugin(AirflowPlugin):
    name = "jobyard_operator_page"
    external_views = [{
        "name": "Operator",
        "href": f"{URL_PREFIX}/",
        "destination": "nav",
        "url_route": "operator",
        "nav_top_level": True,
    }]
    listeners = [QueuedByListener()]

    @property
    def fastapi_apps(self) -> list[dict]:
        return [{"app": build_app(), "url_prefix": URL_PREFIX, "name": "jobyard operator page"}]
