"""Owner alerts: one email after a task's final retry fails, one when a run misses its deadline.

Recipients are the Airflow variable `<domain>_alert_emails` (comma-separated), read when the
alert fires, never at parse time. Mail goes through `SmtpNotifier` on `smtp_default`.
"""

from __future__ import annotations

import asyncio
from typing import Any

SMTP_CONN_ID = "smtp_default"

_FAILURE_SUBJECT = (
    "[jobyard] FAILED {{ dag.dag_id }}.{{ ti.task_id }} "
    "(run {{ run_id }}, try {{ ti.try_number }})"
)
_FAILURE_BODY = """\
<p>Task <b>{{ ti.task_id }}</b> of DAG <b>{{ dag.dag_id }}</b> failed after its last retry.</p>
<ul>
<li>Run: {{ run_id }}</li>
<li>Data interval: {{ dag_run.data_interval_start or "none (manual run)" }}
    to {{ dag_run.data_interval_end or "" }}</li>
<li>Try: {{ ti.try_number }} of {{ task.retries + 1 }}</li>
<li>Error: {{ exception | e }}</li>
<li>Log: <a href="{{ ti.log_url }}">{{ ti.log_url }}</a></li>
</ul>
"""


def recipients_template(domain: str) -> str:
    return "{{ var.value." + domain + "_alert_emails }}"


def failure_notifier(domain: str):
    """The `on_failure_callback` of every task: Airflow calls it only after the final retry."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return SmtpNotifier(
        to=recipients_template(domain),
        subject=_FAILURE_SUBJECT,
        html_content=_FAILURE_BODY,
        smtp_conn_id=SMTP_CONN_ID,
    )


def _send_deadline_email(domain: str, limit: str, context: dict[str, Any] | None) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    from include.orchestration.variables import alert_recipients

    run = (context or {}).get("dag_run", {})
    deadline = (context or {}).get("deadline", {})
    dag_id, run_id = run.get("dag_id", "?"), run.get("dag_run_id", run.get("run_id", "?"))
    subject = f"[jobyard] DEADLINE MISSED {dag_id} (run {run_id})"
    body = (
        f"<p>Run <b>{run_id}</b> of DAG <b>{dag_id}</b> had not finished {limit} after it was "
        f"queued (deadline {deadline.get('deadline_time')}).</p>"
        f"<ul><li>State: {run.get('state')}</li>"
        f"<li>Data interval: {run.get('data_interval_start')} to {run.get('data_interval_end')}</li></ul>"
    )
    notifier = SmtpNotifier(to=alert_recipients(domain), subject=subject, html_content=body,
                            smtp_conn_id=SMTP_CONN_ID)
    notifier.notify(context or {})


async def notify_deadline_missed(domain: str, limit: str, context: dict[str, Any] | None = None) -> None:
    """Deadline-alert callback; runs in the triggerer, so blocking work goes to a thread."""
    await asyncio.to_thread(_send_deadline_email, domain, limit, context)
