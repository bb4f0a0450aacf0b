"""The outbox row as its senders see it: the one type the outbox (which claims rows) and the
senders (include/common/email.py, include/common/push.py, which send them) both need, kept
apart so that neither imports the other for it. What callers enqueue (`OutboxMessage`) stays
in include/common/outbox.py: it is built from rendered templates and images, so it sits
above email and push."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutboxRow:
    """A claimed row of `platform.outbox`, rendered and ready to send."""

    id: int
    dedupe_key: str
    channel: str
    domain: str
    recipient: str
    subject: str | None
    body_text: str | None
    body_html: str | None
    payload: dict | None
    attempts: int
