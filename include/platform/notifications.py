"""Deliver the outbox, and tell the platform owners when messages go dead.

The use case of the sweeper DAG `platform_deliver_notifications`: send every due message
(pending ones whose job ran while SMTP or FCM was down, retries after backoff, rows whose
deliverer died), then, if messages went dead in this run, enqueue one `platform/outbox_dead`
alert per owner (dedupe key by the dead ids, so a rerun does not repeat it) and deliver it
right away. Plain Python: the orchestration layer passes the DSN, senders and recipients.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from include.common.db import connect
from include.common.delivery import DeliveryReport, Sender, deliver_pending
from include.common.outbox import OutboxMessage, backlog, enqueue
from include.common.time_budget import SoftTimeLimitExceeded, TimeBudget

DEAD_ALERT_TEMPLATE = "platform/outbox_dead"
DEAD_ALERT_PREFIX = "outbox_dead:"
MAX_PASSES = 3  # delivery passes per run: the sweep, then the alerts it raised
IDS_IN_ALERT = 50
ERRORS_IN_ALERT = 10


def dead_alert_messages(dead: list[dict], owners: list[str]) -> list[OutboxMessage]:
    """One alert per owner about `dead` ({"id", "dedupe_key", "error"} each)."""
    ids = sorted(d["id"] for d in dead)
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]
    context = {
        "count": len(ids),
        "ids": ids[:IDS_IN_ALERT],
        "errors": [{"id": d["id"], "dedupe_key": d["dedupe_key"], "error": (d["error"] or "")[:300]}
                   for d in sorted(dead, key=lambda d: d["id"])[:ERRORS_IN_ALERT]],
    }
    return [OutboxMessage(dedupe_key=f"{DEAD_ALERT_PREFIX}{ids[0]}-{ids[-1]}:{len(ids)}:{digest}:{owner}",
                          channel="email", domain="platform", recipient=owner,
                          template=DEAD_ALERT_TEMPLATE, context=context)
            for owner in owners]


# A domain's reaction to messages its receiver refused for good: `(dsn, refusals)` with the
# dead rows' details (include/common/delivery.py DeliveryReport.dead_details, "permanent" true),
# returning {"handled_ids": [...], <counts>...}. Handled rows are a normal event of the domain
# (an FCM token the app uninstalled), not a delivery failure: the owners get no alert for them.
RefusalHandler = Callable[[str, list[dict]], Mapping]


def deliver_notifications(dsn: str, email_sender: Sender | None, push_sender: Sender | None,
                          owners: list[str], *, budget: TimeBudget | None = None,
                          on_permanent_refusal: RefusalHandler | None = None,
                          **delivery: float | int) -> dict:
    """Run the outbox delivery and alert on dead messages; returns the receipt.

    `on_permanent_refusal` (see `RefusalHandler`) is called after each delivery pass with
    the rows refused for good in it; its counts are summed into the receipt's "refusals"
    and the rows it handled are left out of the owner alert.

    `delivery` passes batch_size, max_attempts, lease_seconds, backoff_seconds, connections,
    processes, processes_from through to `deliver_pending` (several connections at once;
    see include/common/delivery.py for the crash window that follows).

    Raises RuntimeError (after everything is committed) when messages went dead but there
    is no owner to tell or when an owner alert itself went dead, and SoftTimeLimitExceeded
    (with the receipt) when the time `budget` ran out with messages still due: loud, so
    Airflow's retries and failure notifier take over.
    """
    totals = {"sent": 0, "failed": 0, "dead": 0, "alerts_queued": 0}
    dead_ids: list[int] = []
    dead_alerts: list[dict] = []
    channels_down: dict[str, str] = {}
    refusals: dict[str, int] = {}
    unhandled_ids: list[int] = []  # dead rows the owners must hear of
    report: DeliveryReport | None = None
    passes = 0
    for passes in range(1, MAX_PASSES + 1):  # noqa: B007 - the count is reported below
        report = deliver_pending(dsn, email_sender, push_sender, budget=budget, **delivery)
        totals["sent"] += report.sent
        totals["failed"] += report.failed
        totals["dead"] += report.dead
        dead_ids += report.dead_ids
        channels_down.update(report.channels_down)
        dead = [d for d in report.dead_details if not d["dedupe_key"].startswith(DEAD_ALERT_PREFIX)]
        refused = [d for d in dead if d.get("permanent")]
        if refused and on_permanent_refusal is not None:
            outcome = dict(on_permanent_refusal(dsn, refused))
            handled = set(outcome.pop("handled_ids", ()))
            for name, count in outcome.items():
                refusals[name] = refusals.get(name, 0) + int(count)
            refusals["handled"] = refusals.get("handled", 0) + len(handled)
            dead = [d for d in dead if d["id"] not in handled]
        unhandled_ids += [d["id"] for d in dead]
        dead_alerts += [d for d in report.dead_details if d["dedupe_key"].startswith(DEAD_ALERT_PREFIX)]
        if not dead or not owners:
            break
        with connect(dsn) as conn:
            queued = enqueue(conn, dead_alert_messages(dead, owners))
        totals["alerts_queued"] += queued
        if not queued or report.stopped_early:
            break  # nothing new to send now (or no time): the next run delivers it
    with connect(dsn) as conn:
        left = backlog(conn)
    receipt = {**totals, "dead_ids": dead_ids[:100], "channels_down": channels_down, "refusals": refusals,
               "stopped_early": bool(report and report.stopped_early), "backlog": left}
    if unhandled_ids and not owners:
        raise RuntimeError(f"{len(unhandled_ids)} outbox messages went dead (ids {unhandled_ids[:20]}) and there is "
                           f"no platform owner to alert (variable platform_alert_emails is empty); receipt {receipt}")
    if dead_alerts:
        raise RuntimeError(f"the owner alert about dead outbox messages could not be delivered: {dead_alerts[:3]}; "
                           f"receipt {receipt}")
    if receipt["stopped_early"]:
        raise SoftTimeLimitExceeded(passes, None, receipt)  # `passes` delivery passes, each committed per message
    return receipt
