"""Emails of the outbox: rendering (multipart text + HTML from Jinja2) and the MIME message
built from an outbox row (`build_message`). Sending is include/common/smtp.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate

from include.common import templates, unsubscribe
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
    """Subject, text and HTML of `template` (e.g. "platform/health_alert") for `domain`,
    the three from one shared context (include/common/templates `render_all`)."""
    ctx = {**context, "product": product_name(domain), "domain": domain}
    subject, text, html = templates.render_all(
        (f"{template}.subject.j2", f"{template}.txt.j2", f"{template}.html.j2"), ctx)
    return RenderedEmail(subject=templates.one_line(subject), text=text, html=html)


# -- one-click unsubscribe (RFC 8058) ---------------------------------------------------------

UNSUBSCRIBE_KEY = "list_unsubscribe"  # the outbox row's payload key: the message's one-click URL


def unsubscribe_headers(payload: dict | None) -> dict[str, str]:
    """`List-Unsubscribe` and `List-Unsubscribe-Post` of a row whose payload has a one-click
    URL (recurring mail, include/common/unsubscribe.py); none for transactional mail."""
    url = (payload or {}).get(UNSUBSCRIBE_KEY)
    return unsubscribe.headers(url) if url else {}


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

    A recurring message (payload `list_unsubscribe`) also gets the RFC 8058 headers
    `List-Unsubscribe: <https://...>` and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.

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
    for name, value in unsubscribe_headers(row.payload).items():
        msg[name] = value
    if row.body_html:
        msg.attach(MIMEText(row.body_text or "", "plain", _UTF8_QP))
        msg.attach(_html_part(row.body_html, images))
    return msg


def _header(value: str) -> str | Header:
    """ASCII as is; anything else RFC 2047-encoded. Newlines never reach a header."""
    value = " ".join(value.splitlines())
    return value if value.isascii() else Header(value, "utf-8")
