"""Human pages for caught emails: a list at /emails, each HTML body at /emails/{id}."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

router = APIRouter(tags=["emails"])

# Caught HTML is shown as sent, but with scripts disabled.
BODY_HEADERS = {"Content-Security-Policy": "script-src 'none'"}


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
    body = caught["html"] or f"<pre>{escape(caught['text'] or '')}</pre>"
    return HTMLResponse(body, headers=BODY_HEADERS)
