"""Sending outbox emails over SMTP (smtplib, no Airflow).

`SmtpSender` is the outbox's email sender: the orchestration layer builds it from the Airflow
connection `smtp_default` (include/orchestration/notify.py). Why not the provider's SmtpHook:
the outbox needs one connection reused across a batch, its own headers (Message-ID,
X-Dedupe-Key), and to know at which SMTP stage a failure happened (see `SmtpSender.send`).
"""

from __future__ import annotations

import copy
import random
import re
import smtplib
import ssl
import sys
from email.message import Message

from include.common.email import WIRE_POLICY, build_message
from include.common.messages import OutboxRow

_NEWLINES = re.compile(r"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))


def wire_bytes(msg: Message) -> bytes:
    """`msg.as_bytes(policy=WIRE_POLICY)`, byte for byte, at a tenth of its CPU.

    The standard generator folds every header through `email.header.Header` and compiles a
    regular expression per multipart boundary: ~0.3 ms of a ~0.45 ms message, the largest
    cost of a deliverer. This writes what the generator writes for the messages
    include/common/email.py builds: a header that is one short ASCII line as is (the
    generator's output for it), any other header through the generator's own
    `WIRE_POLICY.fold_binary`, ASCII payloads with their line endings made CRLF, parts
    joined with the same boundaries (a fresh one, in the generator's format, set on the
    message as the generator does, when it has none). A message with anything else (a
    non-ASCII payload, a preamble, an attached message) goes through `as_bytes` itself.
    tests/include/common/test_outbox.py checks the two agree on every template."""
    try:
        return _part_bytes(msg)
    except _Unusual:
        return msg.as_bytes(policy=WIRE_POLICY)


class _Unusual(Exception):
    """Something the fast path does not write exactly like the generator."""


def _part_bytes(msg: Message) -> bytes:
    if msg.preamble is not None or msg.epilogue is not None:
        raise _Unusual
    payload = msg._payload
    if msg.is_multipart():
        parts = [_part_bytes(part) for part in payload]
        boundary = msg.get_boundary()
        if not boundary:
            joined = b"\r\n".join(parts)
            while True:  # the generator's format (email.generator._make_boundary), checked against the text
                boundary = "=" * 15 + f"%0{_BOUNDARY_DIGITS}d" % random.randrange(sys.maxsize) + "=="
                if ("--" + boundary).encode() not in joined:
                    break
            msg.set_boundary(boundary)
        marker = b"--" + boundary.encode("ascii")
        body = marker + b"\r\n" + (b"\r\n" + marker + b"\r\n").join(parts) + b"\r\n" + marker + b"--\r\n"
    elif payload is None:
        body = b""
    elif isinstance(payload, str) and payload.isascii() and msg.get_content_maintype() in ("text", "image"):
        body = "\r\n".join(_NEWLINES.split(payload)).encode("ascii") if payload else b""
    else:
        raise _Unusual
    head = []
    for name, value in msg.raw_items():
        if (isinstance(value, str) and value.isascii() and len(name) + len(value) < 996
                and "\n" not in value and "\r" not in value and value.strip() == value):
            head.append(f"{name}: {value}\r\n")
        else:
            head.append(WIRE_POLICY.fold_binary(name, value).decode("ascii", "surrogateescape"))
    return ("".join(head) + "\r\n").encode("ascii", "surrogateescape") + body


class SmtpFailed(Exception):
    """A send failed; the outbox retries it later.

    `permanent`: the server refused this message for good (5xx to MAIL/RCPT/DATA), so the
    outbox marks it dead at once. `channel_down`: the server cannot be reached, dropped
    the connection before the message went out, or refused the session (login, STARTTLS),
    so the rest of the batch is not tried. `unreachable`: it never reached a server that
    answered (refused, timed out, dropped before the message): the outbox sends it as soon
    as the server answers again instead of after its backoff (include/common/delivery.py).
    """

    def __init__(self, message: str, *, permanent: bool = False, channel_down: bool = False,
                 unreachable: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.channel_down = channel_down
        self.unreachable = unreachable


class SmtpSender:
    """Sends outbox email rows over one SMTP connection, reused across a batch.

    `use_ssl`: implicit TLS (SMTPS, port 465); else plain SMTP upgraded with STARTTLS when
    `use_tls`. Login when `username` and `password` are set. After any failure the connection
    is closed and the next send opens a new one. One sender is one connection, used by one
    thread at a time: the outbox sends over several at once with `clone()`.
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

    def clone(self) -> SmtpSender:
        """A sender with the same settings and a connection of its own (not yet opened)."""
        twin = copy.copy(self)
        twin._smtp = None
        return twin

    def __getstate__(self) -> dict:  # handed to a helper process without its connection
        return {**self.__dict__, "_smtp": None}

    # -- connection ------------------------------------------------------------------------

    def probe(self) -> None:
        """Raise `SmtpFailed` unless the server answers (a session is opened, or the open
        one answers NOOP); the session is kept for the next send."""
        if self._smtp is not None:
            try:
                if self._smtp.noop()[0] == 250:
                    return
            except (OSError, smtplib.SMTPException):
                pass
            self.close()
        self._smtp = self._connect()

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.use_ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise SmtpFailed(f"cannot connect to SMTP {self.host}:{self.port}: {exc!r}", channel_down=True,
                             unreachable=True) from exc
        try:
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
        except (OSError, smtplib.SMTPServerDisconnected) as exc:  # dropped before it answered: unreachable
            raise SmtpFailed(f"cannot connect to SMTP {self.host}:{self.port}: {exc!r}", channel_down=True,
                             unreachable=True) from exc
        except smtplib.SMTPException as exc:  # it answered, and refused the session (login, STARTTLS)
            raise SmtpFailed(f"SMTP {self.host}:{self.port} refused the session: {exc!r}",
                             channel_down=True) from exc
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

        The envelope (MAIL, RCPT, DATA) is sent first, in one write when the server offers
        PIPELINING (RFC 2920: two round trips per message instead of four); if a reused
        connection turns out to be dead there, nothing was delivered, so it reconnects and
        tries once more. A failure while the message itself goes out is not retried here: the
        server may have taken it (the outcome is unknown), so the outbox decides, with
        backoff and the stable Message-ID.
        """
        payload = wire_bytes(build_message(row, self.from_email))
        for fresh in (self._smtp is None, True):
            if self._smtp is None:
                self._smtp = self._connect()
            smtp = self._smtp
            try:
                self._envelope(smtp, row.recipient)
            except smtplib.SMTPRecipientsRefused as exc:
                self._reset_or_close()
                code, text = next(iter(exc.recipients.values()))
                raise SmtpFailed(f"SMTP refused recipient {row.recipient}: {code} {_text(text)}",
                                 permanent=500 <= code < 600) from exc
            except smtplib.SMTPResponseException as exc:
                self._reset_or_close()
                raise SmtpFailed(f"SMTP refused envelope: {exc.smtp_code} {_text(exc.smtp_error)}",
                                 permanent=500 <= exc.smtp_code < 600) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                if fresh:
                    raise SmtpFailed(f"SMTP {self.host}:{self.port} dropped the connection: {exc!r}",
                                     channel_down=True, unreachable=True) from exc
                continue  # a stale reused connection: nothing was sent, reconnect once
            break
        try:
            code, resp = self._content(smtp, payload)
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise SmtpFailed(f"SMTP connection lost during DATA (outcome unknown): {exc!r}") from exc
        if code != 250:
            self._reset_or_close()
            raise SmtpFailed(f"SMTP refused data: {code} {_text(resp)}", permanent=500 <= code < 600)

    def _envelope(self, smtp: smtplib.SMTP, recipient: str) -> None:
        """MAIL, RCPT and DATA up to the server's 354 (go ahead), or raise its refusal."""
        smtp.ehlo_or_helo_if_needed()
        if smtp.has_extn("pipelining"):
            smtp.send(f"MAIL FROM:{smtplib.quoteaddr(self.from_email)}\r\n"
                      f"RCPT TO:{smtplib.quoteaddr(recipient)}\r\nDATA\r\n")
            mail, rcpt, data = smtp.getreply(), smtp.getreply(), smtp.getreply()
            if data[0] == 354 and (mail[0] != 250 or rcpt[0] not in (250, 251)):
                smtp.send(b".\r\n")  # DATA was accepted although the envelope was not: an empty message ends it
                smtp.getreply()
        else:
            mail = smtp.mail(self.from_email)
            rcpt = smtp.rcpt(recipient) if mail[0] == 250 else None
            data = smtp.docmd("data") if rcpt and rcpt[0] in (250, 251) else None
        if mail[0] != 250:
            raise smtplib.SMTPSenderRefused(mail[0], mail[1], self.from_email)
        if rcpt[0] not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
        if data[0] != 354:
            raise smtplib.SMTPDataError(data[0], data[1])

    @staticmethod
    def _content(smtp: smtplib.SMTP, payload: bytes) -> tuple[int, bytes]:
        """The message after DATA's 354, dot-stuffed and ended with CRLF . CRLF (what
        smtplib's `data()` sends), and the server's reply."""
        quoted = _LEADING_DOT.sub(b"..", payload)
        if not quoted.endswith(b"\r\n"):
            quoted += b"\r\n"
        smtp.send(quoted + b".\r\n")
        return smtp.getreply()

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
