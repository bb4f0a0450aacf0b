"""Pushes to a user's devices, and what a dead FCM token does to its device.

**Fan-out: one outbox row per (event, device).** A push "to a user" is one outbox message
per active device of the user (`fitness.devices`, `is_active`), with the dedupe key
`<event key>:<device_id>` (e.g. `daily:42:2026-03-01:7`). Why per device rather than one row
per user whose sender loops over the devices: the outbox's guarantee (sent at most once
per row, a duplicate only for the one row in flight when a deliverer crashes) then holds
for each device unchanged, without a per-device progress record inside a row; a dead token
or a 429 on one device affects only that device's row (retried or dead on its own), while
the user's other devices are delivered; and rows stay plain outbox rows that the sweeper
`platform_deliver_notifications` delivers like any other. The price: a device registered
between a run and its rerun gets the push on the rerun (it has a new key) — each device
still exactly once.

**Dead tokens.** FCM answers 404 with `details[].errorCode` `UNREGISTERED` for a token of an
uninstalled app; the outbox marks that row dead at once (`permanent`, never retried), and
`deactivate_refused_tokens` (the fitness entry of include/orchestration/notify.py
`REFUSAL_HANDLERS`, called by every delivery, the sweeper's too) deactivates the device:
`is_active = false`, `deactivated_reason = 'fcm UNREGISTERED (outbox <id>)'`. Those rows are
handled, so they raise no owner alert; a user left without any active device is counted
(`users_without_devices`), not failed.
"""

from __future__ import annotations

from collections.abc import Iterable

from include.common.db import connect
from include.common.outbox import OutboxMessage
from include.fitness.repository import devices as repository

DOMAIN = "fitness"
# FCM refusals after which a token can never receive a push again.
DEAD_TOKEN_ERRORS = frozenset({"UNREGISTERED"})


def device_key(event_key: str, device_id: int) -> str:
    return f"{event_key}:{device_id}"


def fan_out(event_key: str, devices: Iterable[dict], template: str, context: dict) -> list[OutboxMessage]:
    """One push message per device ({"id", "token"} each) of one user's event."""
    return [OutboxMessage(dedupe_key=device_key(event_key, d["id"]), channel="push", domain=DOMAIN,
                          recipient=d["token"], template=template, context=context)
            for d in devices]


def deactivate_refused_tokens(dsn: str, refused: list[dict]) -> dict:
    """The refusal handler of the fitness domain (include/platform/notifications.py
    `RefusalHandler`): deactivates the devices whose token FCM reported unregistered.

    Returns {"handled_ids": outbox ids of those rows, "devices_deactivated": n (devices that
    were still active), "users_without_devices": n (their users left with no active
    device)}. Other refusals (e.g. INVALID_ARGUMENT, a bug of ours) are left unhandled, so
    the owners hear of them."""
    dead = [d for d in refused if d.get("domain") == DOMAIN and d.get("channel") == "push"
            and d.get("error_code") in DEAD_TOKEN_ERRORS and d.get("recipient")]
    if not dead:
        return {"handled_ids": [], "devices_deactivated": 0, "users_without_devices": 0}
    with connect(dsn) as conn:
        deactivated, orphaned = repository.deactivate_tokens(
            conn, [d["recipient"] for d in dead],
            [f"fcm {d['error_code']} (outbox {d['id']})" for d in dead])
        conn.commit()
    return {"handled_ids": [d["id"] for d in dead], "devices_deactivated": deactivated,
            "users_without_devices": orphaned}
