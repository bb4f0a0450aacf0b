"""The SMTP sink: real SMTP in, JSON and HTML out, persisted across restarts."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import requests

from sandbox.client import SandboxControl


def send(smtp_port: int, subject: str, to: str = "owner@jobyard.local",
         dedupe_key: str | None = None, login: bool = False) -> None:
    message = EmailMessage()
    message["From"] = "jobyard@localhost"
    message["To"] = to
    message["Subject"] = subject
    if dedupe_key:
        message["X-Dedupe-Key"] = dedupe_key
    message.set_content("Plain body: 42 views")
    message.add_alternative("<p>HTML body: <b>42</b> views</p>", subtype="html")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
        if login:
            smtp.login("user", "secret")
        smtp.send_message(message)


def test_multipart_email_is_caught_with_all_fields(sandbox, control):
    send(sandbox.smtp_port, "Weekly digest", dedupe_key="owner|digest|2025-W01")

    [caught] = control.wait_for_emails(1)
    assert caught["mail_from"] == "jobyard@localhost"
    assert caught["rcpt_tos"] == ["owner@jobyard.local"]
    assert caught["subject"] == "Weekly digest"
    assert caught["dedupe_key"] == "owner|digest|2025-W01"
    assert caught["headers"]["X-Dedupe-Key"] == "owner|digest|2025-W01"
    assert caught["text"].strip() == "Plain body: 42 views"
    assert "<b>42</b>" in caught["html"]
    assert "Subject: Weekly digest" in caught["raw"]
    assert caught["received_at"]


def test_email_filters(sandbox, control):
    send(sandbox.smtp_port, "Alert: videos failed", to="a@jobyard.local")
    send(sandbox.smtp_port, "Digest", to="b@jobyard.local")
    control.wait_for_emails(2)

    assert [e["subject"] for e in control.emails(to="A@jobyard.local")] == ["Alert: videos failed"]
    assert [e["subject"] for e in control.emails(subject_contains="alert")] == [
        "Alert: videos failed"]
    assert control.emails(to="nobody@jobyard.local") == []


def test_smtp_login_is_accepted(sandbox, control):
    send(sandbox.smtp_port, "With credentials", login=True)
    assert control.wait_for_emails(1, subject_contains="credentials")


def test_html_pages_list_and_show_emails(sandbox, control, base_url):
    send(sandbox.smtp_port, "First <one>")
    send(sandbox.smtp_port, "Second")
    first, _ = control.wait_for_emails(2)

    page = requests.get(f"{base_url}/emails", timeout=10)
    assert page.status_code == 200
    assert "First &lt;one&gt;" in page.text  # escaped
    assert page.text.index("Second") < page.text.index("First")  # newest first
    assert f'href="/emails/{first["id"]}"' in page.text

    body = requests.get(f"{base_url}/emails/{first['id']}", timeout=10)
    assert body.status_code == 200
    assert "<b>42</b>" in body.text
    assert requests.get(f"{base_url}/emails/999999", timeout=10).status_code == 404


def test_emails_survive_a_restart_and_clearing_empties_the_file(start_sandbox, tmp_path):
    first = start_sandbox(tmp_path)
    send(first.smtp_port, "Before restart")
    SandboxControl(first.base_url).wait_for_emails(1)
    first.stop()
    assert "Before restart" in (tmp_path / "emails.jsonl").read_text()

    second = start_sandbox(tmp_path)
    control = SandboxControl(second.base_url)
    [kept] = control.emails()
    assert kept["subject"] == "Before restart"
    send(second.smtp_port, "After restart")
    assert [e["id"] for e in control.wait_for_emails(2)] == [kept["id"], kept["id"] + 1]
    control.clear_emails()
    assert control.emails() == []
    assert (tmp_path / "emails.jsonl").read_text() == ""


def test_inline_cid_images_are_served_and_linked_from_the_html_page(sandbox, control, base_url):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # the bytes matter here, not the picture
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "jobyard@localhost", "ada@creators.test", "With a chart"
    message.set_content("Daily views: 2026-06-10 1,350")
    message.add_alternative('<p>Chart:</p><img src="cid:views-30d.abc@jobyard" alt="chart">'
                            "<img src='cid:missing@jobyard'>", subtype="html")
    message.get_payload()[1].add_related(png, "image", "png", cid="<views-30d.abc@jobyard>", disposition="inline")
    with smtplib.SMTP("127.0.0.1", sandbox.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)

    [caught] = control.wait_for_emails(1)
    assert caught["inline"] == [{"cid": "views-30d.abc@jobyard", "content_type": "image/png", "size": len(png)}]
    assert 'src="cid:views-30d.abc@jobyard"' in caught["html"]  # the JSON keeps the HTML as sent

    page = requests.get(f"{base_url}/emails/{caught['id']}", timeout=10)
    assert f'<img src="/emails/{caught["id"]}/cid/views-30d.abc@jobyard" alt="chart">' in page.text
    assert "cid:" not in page.text
    image = requests.get(f"{base_url}/emails/{caught['id']}/cid/views-30d.abc@jobyard", timeout=10)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png" and image.content == png
    missing = requests.get(f"{base_url}/emails/{caught['id']}/cid/missing@jobyard", timeout=10)
    assert missing.status_code == 404 and "no part with Content-ID <missing@jobyard>" in missing.text
    assert requests.get(f"{base_url}/emails/999999/cid/views-30d.abc@jobyard", timeout=10).status_code == 404
