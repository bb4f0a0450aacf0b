"""Caught emails: parsed into plain JSON, kept in memory and appended to a JSON-lines file
so they survive a restart and a person can read them."""

from __future__ import annotations

import email
import json
import logging
import threading
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

log = logging.getLogger(__name__)

DEDUPE_HEADER = "X-Dedupe-Key"


def _part_text(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else None


def _content_id(part: EmailMessage) -> str | None:
    """A part's Content-ID without its angle brackets (what a `cid:` URL names, RFC 2392)."""
    value = part.get("Content-ID")
    return str(value).strip().removeprefix("<").removesuffix(">") if value else None


def inline_parts(message: EmailMessage) -> list[EmailMessage]:
    """The non-multipart parts with a Content-ID: the images a `cid:` link in the HTML shows."""
    return [part for part in message.walk() if not part.is_multipart() and _content_id(part)]


def inline_part(raw: str, cid: str) -> tuple[str, bytes] | None:
    """(content type, bytes) of the part of a stored message whose Content-ID is `cid`."""
    message = email.message_from_string(raw, policy=policy.default)
    for part in inline_parts(message):
        if _content_id(part) == cid:
            return part.get_content_type(), part.get_payload(decode=True) or b""
    return None


def parse_message(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> dict:
    """The JSON record of one message as received over SMTP (no id yet)."""
    message = email.message_from_bytes(raw, policy=policy.default)
    headers: dict[str, str] = {}
    for name, value in message.items():  # repeated headers are joined, HTTP style
        headers[name] = f"{headers[name]}, {value}" if name in headers else str(value)
    return {
        "mail_from": mail_from,
        "rcpt_tos": list(rcpt_tos),
        "subject": str(message.get("Subject", "")),
        "headers": headers,
        "dedupe_key": message.get(DEDUPE_HEADER),
        "text": _part_text(message, "plain"),
        "html": _part_text(message, "html"),
        "attachments": [
            {"filename": part.get_filename(), "content_type": part.get_content_type(),
             "size": len(part.get_payload(decode=True) or b"")}
            for part in message.iter_attachments()
        ],
        # Related parts (cid: images), served by the HTML pages at /emails/{id}/cid/{cid}.
        "inline": [
            {"cid": _content_id(part), "content_type": part.get_content_type(),
             "size": len(part.get_payload(decode=True) or b"")}
            for part in inline_parts(message)
        ],
        "raw": raw.decode("utf-8", errors="replace"),
        "received_at": datetime.now(UTC).isoformat(),
    }


class EmailStore:
    """Thread-safe: the SMTP thread writes while HTTP handlers read."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._emails: list[dict] = self._load()
        self._next_id = max((e["id"] for e in self._emails), default=0) + 1

    def _load(self) -> list[dict]:
        if not self.path.exists():
            return []
        emails = []
        with self.path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    emails.append(json.loads(line))
                except json.JSONDecodeError:  # e.g. a line cut short by a crash mid-write
                    log.warning("%s:%d is not JSON; skipped", self.path, number)
        return emails

    def add(self, record: dict) -> dict:
        with self._lock:
            stored = {"id": self._next_id, **record}
            self._next_id += 1
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(stored, ensure_ascii=False) + "\n")
            self._emails.append(stored)
            return stored

    def list(self, to: str | None = None, subject_contains: str | None = None) -> list[dict]:
        """Emails in the order received, filtered by envelope recipient and subject text."""
        with self._lock:
            emails = list(self._emails)
        if to:
            emails = [e for e in emails if to.lower() in (r.lower() for r in e["rcpt_tos"])]
        if subject_contains:
            emails = [e for e in emails if subject_contains.lower() in e["subject"].lower()]
        return emails

    def get(self, email_id: int) -> dict | None:
        with self._lock:
            return next((e for e in self._emails if e["id"] == email_id), None)

    def clear(self) -> None:
        """Forget every email, on disk too, so a restart does not bring them back."""
        with self._lock:
            self._emails.clear()
            self.path.write_text("", encoding="utf-8")
