"""Emails of the outbox: rendering (multipart text + HTML from Jinja2) and sending over SMTP.

Plain Python (smtplib, no Airflow). `SmtpSender` is the outbox's email sender: the
orchestration layer builds it from the Airflow connection `smtp_default`
(include/orchestration/notify.py). Why not the provider's SmtpHook: the outbox needs one
connection reused across a batch, its own headers (Message-ID, X-Dedupe-Key), and to know
at which SMTP stage a failure happened (see `SmtpSender.send`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate

from include.common import templates
from include.common.messages import OutboxRow
from include.common.products import product_name

# On the wire: CRLF, and headers folded only past RFC 5322's 998-character limit, so a long
# X-Dedupe-Key stays verbatim instead of being RFC 2047-encoded to fit 78 columns.
WIRE_POLICY = compat32.clone(linesep="\r\n", max_line_length=998)
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable bodies (quoted-printable), not base64


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


# -- inline images (charts) -----------------------------------------------------------------

INLINE_IMAGES_KEY = "inline_images"  # the outbox row's payload key: {cid: {"mime", "data" (base64)}}
INLINE_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/gif"})
MAX_INLINE_BYTES = 512 * 1024  # per message, decoded: a report's charts, not a photo album
_CID_REFERENCE = re.compile(r"""cid:([^"'\s)>]+)""")


@dataclass(frozen=True)
class InlineImage:
    """An image shown in an email's HTML by `<img src="cid:{cid}">`, sent as a part of the
    message's multipart/related (RFC 2387, RFC 2392), not as a link to an image host."""

    cid: str
    mime: str
    data: bytes


def inline_png(name: str, data: bytes) -> InlineImage:
    """A PNG (e.g. from include.common.charts) with a Content-ID made of `name` and its
    content hash: stable across reruns, distinct for different charts in one message."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,40}", name):
        raise ValueError(f"inline image name {name!r}: use 1-41 of a-z, 0-9 and '-'")
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError(f"inline image {name!r} is not a PNG")
    return InlineImage(f"{name}.{hashlib.sha256(data).hexdigest()[:16]}@jobyard", "image/png", data)


def inline_images_payload(images: tuple[InlineImage, ...] | list[InlineImage], html: str | None,
                          what: str) -> dict:
    """The outbox payload entry of `images` ({INLINE_IMAGES_KEY: {cid: {mime, data}}}),
    after checking them against the rendered `html`: every image is referenced by a `cid:`
    link and every `cid:` link has its image (a template/caller mismatch fails at enqueue,
    not as a broken image in a customer's inbox). `what` names the message in errors."""
    if not html:
        raise ValueError(f"{what}: inline images need an HTML body")
    cids = [image.cid for image in images]
    if len(set(cids)) != len(cids):
        raise ValueError(f"{what}: duplicate inline image content ids {sorted(cids)}")
    for image in images:
        if image.mime not in INLINE_MIME_TYPES:
            raise ValueError(f"{what}: inline image {image.cid} has type {image.mime!r}, not one of "
                             f"{sorted(INLINE_MIME_TYPES)}")
    total = sum(len(image.data) for image in images)
    if total > MAX_INLINE_BYTES:
        raise ValueError(f"{what}: inline images are {total:,} bytes, more than {MAX_INLINE_BYTES:,}")
    referenced = set(_CID_REFERENCE.findall(html))
    if referenced != set(cids):
        raise ValueError(f"{what}: the HTML references cid {sorted(referenced - set(cids))} without an image "
                         f"and images {sorted(set(cids) - referenced)} are not referenced")
    return {INLINE_IMAGES_KEY: {image.cid: {"mime": image.mime, "data": base64.b64encode(image.data).decode()}
                                for image in images}}


def inline_images_of(payload: dict | None) -> list[InlineImage]:
    """The inline images stored in an outbox row's payload (none when it has none)."""
    stored = (payload or {}).get(INLINE_IMAGES_KEY) or {}
    try:
        return [InlineImage(cid, part["mime"], base64.b64decode(part["data"], validate=True))
                for cid, part in sorted(stored.items())]
    except (KeyError, TypeError, binascii.Error) as exc:
        raise ValueError(f"malformed {INLINE_IMAGES_KEY} in an outbox payload: {exc!r}") from exc


def _html_part(html: str, images: list[InlineImage]) -> Message:
    """The HTML body, wrapped with its images in a multipart/related when it has any."""
    body = MIMEText(html, "html", _UTF8_QP)
    if not images:
        return body
    related = MIMEMultipart("related", type="text/html")
    related.attach(body)
    for image in images:
        part = MIMEImage(image.data, _subtype=image.mime.split("/", 1)[1])  # base64
        part["Content-ID"] = f"<{image.cid}>"
        part.add_header("Content-Disposition", "inline", filename=f"{image.cid.split('@', 1)[0]}."
                        f"{image.mime.split('/', 1)[1].replace('jpeg', 'jpg')}")
        related.attach(part)
    return related


def build_message(row: OutboxRow, from_email: str) -> Message:
    """The multipart/alternative message of an outbox row (text first, HTML preferred); the
    HTML with its inline images (payload `inline_images`) in a multipart/related:

        multipart/alternative
          text/plain
          multipart/related          (only with inline images)
            text/html                <img src="cid:...">
            image/png                Content-ID: <...>

    Built with the compat32 classes: about 3x cheaper than `EmailMessage` (whose header
    registry parses every header it is given), which shows at thousands of messages."""
    images = inline_images_of(row.payload) if row.body_html else []
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
        msg.attach(_html_part(row.body_html, images))
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
