"""The SMTP sink: an aiosmtpd server (its own thread and event loop) that stores every
message it accepts. It accepts any AUTH login so clients configured with credentials work."""

from __future__ import annotations

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, Session

from sandbox.email_store import EmailStore, parse_message


class SinkHandler:
    def __init__(self, store: EmailStore):
        self.store = store

    async def handle_DATA(self, server, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        raw = raw if isinstance(raw, bytes) else raw.encode()
        self.store.add(parse_message(raw, envelope.mail_from, envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def accept_any_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=True)


def start_smtp_sink(store: EmailStore, port: int, host: str = "127.0.0.1") -> Controller:
    """Start the sink; raises if the port cannot be bound. Stop it with `.stop()`."""
    controller = Controller(SinkHandler(store), hostname=host, port=port,
                            authenticator=accept_any_login, auth_require_tls=False)
    controller.start()
    return controller
