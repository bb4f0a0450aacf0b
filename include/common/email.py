"""Emails of the outbox: rendering (multipart text + HTML from Jinja2) and sending over SMTP.

Plain Python (smtplib, no Airflow). `SmtpSender` is the outbox's email sender: the
orchestration layer builds it from the Airflow connection `smtp_default`
(include/orchestration/notify.py). Why not the provider's SmtpHook: the outbox needs one
connection reused across a batch, its own headers (Message-ID, X-Dedupe-Key), and to know
at which SMTP stage a failure happened (see `SmtpSender.send`).
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate
from typing import TYPE_CHECKING

from include.common import templates

if TYPE_CHECKING:
    from include.common.outbox import OutboxRow

# The product each domain's mail speaks for: the "From" name and the layout's header.
PRODUCTS = {
    "videos": "RedNote Analytics",
    "social": "Social",
    "music": "Music Charts",
    "ads": "Ad Performance",
    "fitness": "Fitness",
    "platform": "jobyard operations",
}

# On the wire: CRLF, and headers folded only past RFC 5322's 998-character limit, so a long
# X-Dedupe-Key stays verbatim instead of being RFC 2047-encoded to fit 78 columns.
WIRE_POLICY = compat32.clone(linesep="\r\n", max_line_length=998)
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable bodies (quoted-printable), not base64


def product_name(domain: str) -> str:
    try:
        return PRODUCTS[domain]
    except KeyError:
        raise ValueError(f"unknown domain {domain!r}; one of {sorted(PRODUCTS)}") from None


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_email(domain: str, template: str, context: dict) -> RenderedEmail:
    """Subject, text and HTML of `template` (e.g. "platform/health_alert") for `domain`."""
    ctx = {**context, "product": product_name(domain), "domain": domain}
    return RenderedEmail(
        subject=templates.one_line(templates.render(f"{template}.subject.j2", ctx)),
        text=templates.render(f"{template}.txt.j2", ctx),
        html=templates.render(f"{template}.html.j2", ctx),
    )


def message_id(dedupe_key: str, from_email: str) -> str:
    """A Message-ID that is the same for every (re)send of one outbox message, so that a
    receiver can drop the duplicate of the documented crash window."""
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]
    host = from_email.rpartition("@")[2] or "jobyard.local"
    return f"<outbox.{digest}@{host}>"


def build_message(row: OutboxRow, from_email: str) -> Message:
    """The multipart/alternative message of an outbox row (text first, HTML preferred).

    Built with the compat32 classes: about 3x cheaper than `EmailMessage` (whose header
    registry parses every header it is given), which shows at thousands of messages."""
    msg = MIMEMultipart("alternative") if row.body_html else MIMEText(row.body_text or "", "plain", _UTF8_QP)
    msg["From"] = formataddr((product_name(row.domain), from_email))
    msg["To"] = row.recipient
    msg["Subject"] = _header(row.subject or "")
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(row.dedupe_key, from_email)
    msg["X-Dedupe-Key"] = _header(row.dedupe_key)
    msg["Auto-Submitted"] = "auto-generated"
    if row.body_html:
        msg.attach(MIMEText(row.body_text or "", "plain", _UTF8_QP))
        msg.attach(MIMEText(row.body_html, "html", _UTF8_QP))
    return msg


def _header(value: str) -> str | Header:
    """ASCII as is; anything else RFC 2047-encoded. Newlines never reach a header."""
    value = " ".join(value.splitlines())
    return value if value.isascii() else Header(value, "utf-8")


class SmtpFailed(Exception):
    """A send failed; the outbox retries it later.

    `permanent`: the server refused this message for good (5xx to MAIL/RCPT/DATA), so the
    outbox marks it dead at once. `channel_down`: the server cannot be reached or dropped
    the connection before the message went out, so the rest of the batch is not tried.
    """

    def __init__(self, message: str, *, permanent: bool = False, channel_down: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.channel_down = channel_down


class SmtpSender:
    """Sends outbox email rows over one SMTP connection, reused across a batch.

    `use_ssl`: implicit TLS (SMTPS, port 465); else plain SMTP upgraded with STARTTLS when
    `use_tls`. Login when `username` and `password` are set. After any failure the connection
    is closed and the next send opens a new one.
    """

    def __init__(self, host: str, port: int, username: str | None = None, password: str | None = None,
                 use_tls: bool = True, use_ssl: bool = False, from_email: str = "", timeout: float = 30):
        if not host:
            raise ValueError("SMTP host is empty")
        if not from_email or "@" not in from_email:
            raise ValueError(f"SMTP from_email must be an address, got {from_email!r}")
        self.host, self.port = host, int(port)
        self.username, self.password = username or None, password or None
        self.use_tls, self.use_ssl = use_tls, use_ssl
        self.from_email = from_email
        self.timeout = float(timeout)
        self._smtp: smtplib.SMTP | None = None

    def __repr__(self) -> str:
        return (f"SmtpSender({self.host}:{self.port}, ssl={self.use_ssl}, starttls={self.use_tls}, "
                f"from={self.from_email})")

    # -- connection ------------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.use_ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            try:
                smtp.ehlo()
                if self.use_tls and not self.use_ssl:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.username and self.password:
                    smtp.login(self.username, self.password)
            except BaseException:
                smtp.close()
                raise
        except (OSError, smtplib.SMTPException) as exc:
            raise SmtpFailed(f"cannot connect to SMTP {self.host}:{self.port}: {exc!r}", channel_down=True) from exc
        return smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- sending ---------------------------------------------------------------------------

    def send(self, row: OutboxRow) -> None:
        """Send one row. Raises `SmtpFailed` (see its flags) when it did not go out.

        The envelope (MAIL, RCPT) is sent first; if a reused connection turns out to be dead
        there, nothing was delivered, so it reconnects and tries once more. A failure during
        DATA is not retried here: the server may have taken the message (the outcome is
        unknown), so the outbox decides, with backoff and the stable Message-ID.
        """
        msg = build_message(row, self.from_email)
        payload = msg.as_bytes(policy=WIRE_POLICY)
        for fresh in (self._smtp is None, True):
            if self._smtp is None:
                self._smtp = self._connect()
            smtp = self._smtp
            try:
                self._envelope(smtp, row.recipient)
            except smtplib.SMTPResponseException as exc:
                self._reset_or_close()
                raise SmtpFailed(f"SMTP refused envelope: {exc.smtp_code} {_text(exc.smtp_error)}",
                                 permanent=500 <= exc.smtp_code < 600) from exc
            except smtplib.SMTPRecipientsRefused as exc:
                self._reset_or_close()
                code, text = next(iter(exc.recipients.values()))
                raise SmtpFailed(f"SMTP refused recipient {row.recipient}: {code} {_text(text)}",
                                 permanent=500 <= code < 600) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                if fresh:
                    raise SmtpFailed(f"SMTP {self.host}:{self.port} dropped the connection: {exc!r}",
                                     channel_down=True) from exc
                continue  # a stale reused connection: nothing was sent, reconnect once
            break
        try:
            code, resp = smtp.data(payload)
        except smtplib.SMTPResponseException as exc:  # raised by data() for a bad DATA reply
            self._reset_or_close()
            raise SmtpFailed(f"SMTP refused data: {exc.smtp_code} {_text(exc.smtp_error)}",
                             permanent=500 <= exc.smtp_code < 600) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise SmtpFailed(f"SMTP connection lost during DATA (outcome unknown): {exc!r}") from exc
        if code != 250:
            self._reset_or_close()
            raise SmtpFailed(f"SMTP refused data: {code} {_text(resp)}", permanent=500 <= code < 600)

    def _envelope(self, smtp: smtplib.SMTP, recipient: str) -> None:
        smtp.ehlo_or_helo_if_needed()
        code, resp = smtp.mail(self.from_email)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, resp, self.from_email)
        code, resp = smtp.rcpt(recipient)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: (code, resp)})

    def _reset_or_close(self) -> None:
        """After a refusal the session is still usable once RSET; else start afresh."""
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self.close()


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
