"""Airflow connections -> the outbox's senders (read at task run time, never at parse time).

`smtp_default` (conn_type smtp), read the way the smtp provider's SmtpHook reads it: host,
port, login, password; extra (JSON booleans) `disable_tls`, `disable_ssl`, `from_email`,
`timeout` (seconds, default 30).

`fcm_api` (conn_type http): host = base URL (`https://fcm.googleapis.com`, or the sandbox's),
or a bare host with `schema` as scheme; extra `project_id` (required). Credentials, first
that applies:
- extra `service_account` (the Google service-account JSON key, as an object or a string),
  optionally with extra `token_uri` overriding the key's own: a signed-JWT grant (real FCM);
- extra `token_uri` + `client_id`, `client_secret`, `refresh_token` (login/password stand in
  for client id/secret): a refresh-token grant;
- password: a bearer token used as is (the sandbox).
When `fcm_api` is not defined, pushes fail with that reason (and are retried, then go dead
and alert), while email delivery goes on.
"""

from __future__ import annotations

import json
from typing import Any

from include.common.delivery import UnavailableSender
from include.common.push import FcmSender, RefreshTokenGrant, ServiceAccountToken, StaticToken
from include.common.smtp import SmtpSender
from include.common.time_budget import TimeBudget

SMTP_CONN_ID = "smtp_default"
FCM_CONN_ID = "fcm_api"


def _bool(value: Any) -> bool:
    """A JSON boolean from a connection extra; the strings "false"/"0"/"no" are false too."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no", "off")
    return bool(value)


def email_sender(conn_id: str = SMTP_CONN_ID) -> SmtpSender:
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    use_ssl = not _bool(extra.get("disable_ssl", False))
    use_tls = not _bool(extra.get("disable_tls", False))
    from_email = extra.get("from_email")
    if not from_email:
        raise ValueError(f"connection {conn_id!r} has no extra.from_email")
    return SmtpSender(host=conn.host or "", port=conn.port or (465 if use_ssl else 587),
                      username=conn.login or None, password=conn.password or None,
                      use_tls=use_tls, use_ssl=use_ssl, from_email=from_email,
                      timeout=float(extra.get("timeout", 30)))


def push_sender(conn_id: str = FCM_CONN_ID) -> FcmSender | UnavailableSender:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from include.orchestration.clients import base_url

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return UnavailableSender(f"Airflow connection {conn_id!r} is not defined: pushes cannot be sent "
                                 f"(define it with host, extra.project_id and credentials)")
    extra = conn.extra_dejson
    project_id = extra.get("project_id")
    if not project_id:
        raise ValueError(f"connection {conn_id!r} has no extra.project_id")
    timeout = (float(extra.get("connect_timeout", 5)), float(extra.get("read_timeout", 30)))
    return FcmSender(base_url(conn.host, conn.schema, conn.port), project_id,
                     token_provider(extra, conn.login, conn.password, conn_id), timeout=timeout)


def token_provider(extra: dict, login: str | None, password: str | None, conn_id: str = FCM_CONN_ID):
    """The OAuth 2 access-token source of an FCM connection (see the module docstring)."""
    if extra.get("service_account"):
        info = extra["service_account"]
        info = json.loads(info) if isinstance(info, str) else info
        return ServiceAccountToken(info, token_uri=extra.get("token_uri"))
    if extra.get("token_uri"):
        client_id = extra.get("client_id") or login
        client_secret = extra.get("client_secret") or password
        refresh = extra.get("refresh_token")
        if not (client_id and client_secret and refresh):
            raise ValueError(f"connection {conn_id!r}: extra.token_uri needs client_id, client_secret "
                             "and refresh_token (or a service_account)")
        return RefreshTokenGrant(extra["token_uri"], client_id, client_secret, refresh)
    if password:
        return StaticToken(password)
    raise ValueError(f"connection {conn_id!r} has no credentials: set a password (bearer token), "
                     "extra.service_account, or extra.token_uri with a refresh token")


# Domains that act on messages their receiver refused for good, e.g. FCM UNREGISTERED:
# "module:function" of a `RefusalHandler` (include/platform/notifications.py), imported when
# one of that domain's rows was refused. Every delivery (a job's and the sweeper's) uses it.
REFUSAL_HANDLERS = {"fitness": "include.fitness.devices:deactivate_refused_tokens"}


def handle_refusals(dsn: str, refused: list[dict]) -> dict:
    """Hands each domain's permanently refused rows to its handler (REFUSAL_HANDLERS); the
    rows of other domains stay unhandled (and alert the owners)."""
    import importlib

    totals: dict = {"handled_ids": []}
    for domain, target in REFUSAL_HANDLERS.items():
        mine = [d for d in refused if d.get("domain") == domain]
        if not mine:
            continue
        module, _, name = target.partition(":")
        outcome = dict(getattr(importlib.import_module(module), name)(dsn, mine))
        totals["handled_ids"] += list(outcome.pop("handled_ids", ()))
        for key, count in outcome.items():
            totals[key] = totals.get(key, 0) + count
    return totals


def delivery_settings() -> dict:
    """How wide a delivery runs (include/common/delivery.py): Airflow variables
    `platform_outbox_connections` (connections per channel and process, default 4),
    `platform_outbox_processes` (processes when at least `platform_outbox_processes_from`,
    default 5,000, rows are due; default 2). The crash window is one duplicate per
    connection in flight: connections x processes."""
    from include.orchestration import variables

    return {"connections": variables.get_int("platform_outbox_connections", 4, minimum=1, maximum=32),
            "processes": variables.get_int("platform_outbox_processes", 2, minimum=1, maximum=8),
            "processes_from": variables.get_int("platform_outbox_processes_from", 5000, minimum=1)}


def deliver_outbox(budget: TimeBudget | None = None) -> dict:
    """Send every due outbox message (this job's and any left pending earlier) within the
    time `budget`, let the domains act on refused ones (`handle_refusals`), and alert the
    platform owners about the other messages that went dead."""
    from include.orchestration import connections, variables
    from include.platform.notifications import deliver_notifications as deliver

    return deliver(connections.app_db("platform"), email_sender(), push_sender(),
                   variables.alert_recipients("platform"), budget=budget, on_permanent_refusal=handle_refusals,
                   **delivery_settings())


def deliver_notifications(upstream: Any = None) -> Any:
    """THE delivery step of a DAG: adds the task `deliver_notifications` to the DAG being
    defined, downstream of `upstream` (the task that queued the messages), and returns it.
    Jobs that queue emails or pushes call this instead of waiting for the sweeper
    (`platform_deliver_notifications`, which is this task on a schedule). It runs under the
    task's soft limit (derived from its execution_timeout by dag_settings)."""
    from airflow.sdk import task

    @task(task_id="deliver_notifications")
    def deliver_notifications() -> dict:
        """Send the queued messages now rather than at the next outbox sweep."""
        from include.orchestration.budget import soft_limit

        with soft_limit() as budget:
            return deliver_outbox(budget)

    delivery = deliver_notifications()
    if upstream is not None:
        upstream >> delivery
    return delivery
