"""The videos daily report email in a real browser: queued in the outbox, sent over SMTP to the
sandbox, opened from the sandbox's caught-mail page (/emails) in headless Chromium, where the
30-day chart (a cid: PNG part) must load as an image. The screenshot is a test artefact
(<session tmp>/artefacts/); JOBYARD_UPDATE_SCREENSHOTS=1 also copies it to docs/ for the README.

Needs Debian's chromium (`apt-get install -y chromium`) and playwright (requirements-dev.txt);
no browser download works here. Without them the test fails, saying how to install them.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import psycopg
import pytest

from include.common.delivery import deliver_pending
from include.common.outbox import enqueue
from include.common.smtp import SmtpSender
from include.videos import reports
from tests.browser import launch_chromium, sync_playwright_or_fail

ROOT = Path(__file__).resolve().parents[3]
DOCS_SCREENSHOT = ROOT / "docs" / "videos_report_email.png"
D = date(2026, 6, 10)

pytestmark = pytest.mark.browser  # `make test FAST=1` skips it; CI runs it



def _row(creator: dict, video_id: int, title: str, series: list[int | None]) -> dict:
    views, before = series[-1], series[-2]
    week = [v for v in series[-8:-1] if v is not None]
    mean = sum(week) / len(week)
    facts = {"day": D.isoformat(), "title": title, "views": views, "likes": views // 20, "comments": views // 90,
             "shares": views // 120, "views_prev_day": before, "change_prev_day": views - before,
             "change_prev_day_pct": round(100 * (views - before) / before, 2), "mean_7d": mean,
             "change_vs_mean_7d": round(views - mean, 1),
             "change_vs_mean_7d_pct": round(100 * (views - mean) / mean, 2),
             "engagement_rate": 0.072, "prediction": None, "keywords": ["night market", "street food"]}
    return {**creator, "video_id": video_id, "platform_id": f"yt-{video_id}", "facts": facts, "views_series": series}


@pytest.fixture
def report_email(videos_db, sandbox, session_env) -> str:
    """A creator's report of D (two videos, 30 days of stats, one day missing) delivered to
    the session's sandbox; returns its subject."""
    creator = {"creator_id": 4242, "creator_name": "Ada", "creator_email": "ada.browser@creators.test"}
    tour = [1200 + 40 * day + (300 if day % 7 in (5, 6) else 0) for day in range(30)]
    recipe = [None] * 9 + [400 + 25 * day for day in range(21)]
    recipe[20] = None  # a day without stats draws no bar
    rows = [_row(creator, 1, "Night market tour", tour), _row(creator, 2, "Noodle recipe", recipe)]
    stories = [reports.Narrative("Night market tour had 2,360 views, its best day this month.", "llm"),
               reports.Narrative("Noodle recipe keeps growing: 900 views on 2026-06-10.", "template")]
    message = reports.creator_email(rows, stories, D)
    with psycopg.connect(videos_db) as conn:
        conn.execute("DELETE FROM platform.outbox WHERE dedupe_key = %s", (message.dedupe_key,))
        assert enqueue(conn, [message]) == 1
        conn.commit()
    sender = SmtpSender("127.0.0.1", session_env["smtp_port"], use_tls=False, from_email="jobyard@localhost")
    assert deliver_pending(videos_db, sender, None).sent == 1
    subject = f"Your videos on {D}: 3,260 views"
    sandbox.wait_for_emails(1, subject_contains=subject)
    return subject


def test_report_chart_loads_in_chromium_from_the_caught_mail_page(report_email, session_env):
    sync_playwright = sync_playwright_or_fail()
    base = f"http://127.0.0.1:{session_env['http_port']}"
    artefacts = Path(session_env["tmp"]) / "artefacts"
    artefacts.mkdir(parents=True, exist_ok=True)
    shot = artefacts / "videos_report_email.png"
    failed: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 680, "height": 900}, device_scale_factor=1)
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.on("requestfailed", lambda r: failed.append(f"failed {r.url}"))
            page.goto(f"{base}/emails", wait_until="load")
            links = page.get_by_role("link", name=report_email)
            assert links.count() >= 1, page.content()
            links.first.click()  # newest first: the one this run sent
            page.wait_for_load_state("load")
            assert "/emails/" in page.url
            chart = page.locator('img[alt^="Daily views of your videos"]')
            assert chart.count() == 1
            chart.wait_for(state="visible")
            src = chart.get_attribute("src")
            assert src.startswith("/emails/") and "/cid/views-30d." in src  # rewritten from cid:
            natural = page.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]",
                                    chart.element_handle())
            assert natural == [True, 1120, 360], natural
            box = chart.bounding_box()
            assert box["width"] > 500 and 150 < box["height"] < 200  # shown at its CSS size
            assert page.get_by_text("Night market tour had 2,360 views").count() == 1
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert failed == []
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
    if os.environ.get("JOBYARD_UPDATE_SCREENSHOTS"):
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)
