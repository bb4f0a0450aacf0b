"""Human pages for caught emails: a list at /emails, each HTML body at /emails/{id}, and
its inline (cid:) images at /emails/{id}/cid/{cid}, the body's cid: links pointing there, as
a mail client shows the parts of a multipart/related."""

from __future__ import annotations

import re
from html import escape
from urllib.parse import quote, unquote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sandbox.email_store import inline_part

router = APIRouter(tags=["emails"])

# Caught HTML is shown as sent, but with scripts disabled.
BODY_HEADERS = {"Content-Security-Policy": "script-src 'none'"}
# src="cid:..." / src='cid:...' in the caught HTML (RFC 2392 URLs, maybe %-encoded).
_CID_SRC = re.compile(r"""(\ssrc\s*=\s*)(["'])cid:([^"']+)\2""", re.IGNORECASE)


def with_inline_links(html: str, email_id: int) -> str:
    """`html` with each cid: image link rewritten to this sandbox's URL of that part."""
    return _CID_SRC.sub(lambda m: f"{m[1]}{m[2]}/emails/{email_id}/cid/{quote(unquote(m[3]), safe='@.-_')}{m[2]}",
                        html)


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("/emails")


@router.get("/emails", response_class=HTMLResponse)
def email_list(request: Request) -> str:
    emails = request.app.state.sandbox.emails.list()
    rows = "\n".join(
        f"<tr><td>{escape(e['received_at'])}</td><td>{escape(e['mail_from'])}</td>"
        f"<td>{escape(', '.join(e['rcpt_tos']))}</td>"
        f"<td><a href=\"/emails/{e['id']}\">{escape(e['subject'] or '(no subject)')}</a></td></tr>"
        for e in reversed(emails)
    )
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sandbox emails</title>"
        "<style>body{font-family:sans-serif}td,th{padding:4px 8px;text-align:left}</style>"
        f"</head><body><h1>Caught emails ({len(emails)})</h1>"
        "<table><tr><th>Received</th><th>From</th><th>To</th><th>Subject</th></tr>"
        f"{rows}</table></body></html>"
    )


@router.get("/emails/{email_id}", response_class=HTMLResponse)
def email_body(email_id: int, request: Request) -> HTMLResponse:
    caught = request.app.state.sandbox.emails.get(email_id)
    if caught is None:
        raise HTTPException(404, f"no email {email_id}")
    html = caught["html"]
    body = with_inline_links(html, email_id) if html else f"<pre>{escape(caught['text'] or '')}</pre>"
    return HTMLResponse(body, headers=BODY_HEADERS)


@router.get("/emails/{email_id}/cid/{cid:path}")
def email_inline_part(email_id: int, cid: str, request: Request) -> Response:
    caught = request.app.state.sandbox.emails.get(email_id)
    if caught is None:
        raise HTTPException(404, f"no email {email_id}")
    part = inline_part(caught["raw"], cid)
    if part is None:
        raise HTTPException(404, f"email {email_id} has no part with Content-ID <{cid}>")
    content_type, data = part
    return Response(data, media_type=content_type, headers={"Cache-Control": "no-store"})
