"""The operator's page (plugins/operator_page.py) through a live api-server: authentication by
the api-server's own auth manager (simple auth manager users `admin` and `viewer`), the
requeue's edit right, the DAG run recorded as `queued_by` by a real task process, and a real
browser (headless Debian chromium driven by playwright) that logs in, opens the page from the
UI's navigation, searches a recipient and requeues a dead message. The screenshot is a test
artefact (<session tmp>/artefacts/operator-page.png); JOBYARD_UPDATE_SCREENSHOTS=1 also copies
it to docs/operator-page.png for the README.

Needs Debian's chromium (`apt-get install -y chromium`) and playwright (requirements-dev.txt);
no browser download is used. Without them the browser test fails, saying how to install them.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.browser import launch_chromium, sync_playwright_or_fail
from tests.conftest import SESSION
from tests.live.conftest import LiveAirflow

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = ROOT / "docs" / "operator-page.png"
USERS = "admin:admin,viewer:viewer"
ERROR = "550 5.1.1 mailbox unavailable (operator test)"


# Kept in the metadata database instead of the environment, as `make run` keeps them: the
# plugin must find them from inside the api-server.
FROM_METASTORE = {"connection": ("AIRFLOW_CONN_PLATFORM_DB", "AIRFLOW_CONN_REDIS_DEFAULT"),
                  "variable": ("AIRFLOW_VAR_RATE_LIMITS",)}


@pytest.fixture(scope="module")
def stack(airflow_db, app_db, sandbox):
    """The live LocalExecutor stack of tests/live/conftest.py, with a viewer beside the admin,
    and the page's connections and variable in the metadata database."""
    env = SESSION["env"]
    saved = {k: env.get(k) for k in ("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", *sum(FROM_METASTORE.values(), ()))}
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = USERS
    for key in sum(FROM_METASTORE.values(), ()):
        env.pop(key)
    try:
        live = LiveAirflow("local")
    finally:
        for key, value in saved.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
    try:
        for key in FROM_METASTORE["connection"]:
            conn = json.loads(saved[key])
            live.api("POST", "/connections", {
                "connection_id": key.removeprefix("AIRFLOW_CONN_").lower(), "conn_type": conn["conn_type"],
                "host": conn.get("host"), "port": conn.get("port"), "login": conn.get("login"),
                "password": conn.get("password"), "schema": conn.get("schema"),
                "extra": json.dumps(conn.get("extra") or {})})
        live.api("POST", "/variables", {"key": "rate_limits", "value": saved["AIRFLOW_VAR_RATE_LIMITS"]})
    except Exception:
        live.stop()
        raise
    yield live
    live.stop()


def password(live: LiveAirflow, user: str) -> str:
    return json.loads(Path(live.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).read_text())[user]


def token(live: LiveAirflow, user: str) -> str:
    req = urllib.request.Request(f"{live.base}/auth/token", method="POST",
                                 data=json.dumps({"username": user, "password": password(live, user)}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["access_token"]


def call(live: LiveAirflow, method: str, path: str, *, bearer: str | None = None, body: dict | None = None,
         cookie: str | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    if cookie:
        headers["Cookie"] = f"_token={cookie}"
    req = urllib.request.Request(f"{live.base}/operator{path}", method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def messages(app_db):
    """Three messages of a recipient of this test's own: one sent, two dead with one error."""
    recipient = f"operator-{secrets.token_hex(4)}@example.com"
    now = datetime.now(UTC)
    ids = {}
    with psycopg.connect(app_db) as conn:
        for name, status, sent, created in (("sent", "sent", now, now - timedelta(hours=2)),
                                            ("dead1", "dead", None, now - timedelta(hours=1)),
                                            ("dead2", "dead", None, now)):
            ids[name] = conn.execute(
                """INSERT INTO platform.outbox (dedupe_key, channel, domain, recipient, subject, body_text, status,
                                                attempts, last_error, created_at, sent_at)
                   VALUES (%s, 'email', 'social', %s, %s, 'private body text', %s, %s, %s, %s, %s) RETURNING id""",
                (f"welcome:{recipient}:{name}", recipient, f"Welcome ({name})", status, 5 if status == "dead" else 1,
                 f"{ERROR} {recipient}" if status == "dead" else None, created, sent)).fetchone()[0]
    return recipient, ids


def status_of(app_db: str, outbox_id: int) -> tuple[str, int]:
    with psycopg.connect(app_db) as conn:
        return conn.execute("SELECT status, attempts FROM platform.outbox WHERE id = %s", (outbox_id,)).fetchone()


def test_every_endpoint_needs_an_airflow_user(stack, messages):
    recipient, ids = messages
    for method, path, body in (("GET", "/", None), ("GET", "/api/overview", None),
                               ("GET", f"/api/messages?q={recipient}", None),
                               ("POST", "/api/requeue", {"message_id": ids["dead1"]})):
        status, _ = call(stack, method, path, body=body)
        assert status == 401, (method, path)
        status, _ = call(stack, method, path, body=body, bearer="not-a-jwt")
        assert status in (401, 403), (method, path)
    assert status_of(SESSION["app_db"], ids["dead1"])[0] == "dead"


def test_a_viewer_reads_but_cannot_requeue(stack, messages, app_db):
    recipient, ids = messages
    viewer = token(stack, "viewer")
    status, html = call(stack, "GET", f"/?q={recipient}", bearer=viewer)
    assert status == 200
    assert "(read only)" in html and f"{ERROR} {recipient}" in html and 'class="requeue"' not in html
    assert "private body text" not in html
    status, body = call(stack, "GET", f"/api/messages?q={recipient}", bearer=viewer)
    found = json.loads(body)["messages"]
    assert status == 200 and [m["id"] for m in found] == [ids["dead2"], ids["dead1"], ids["sent"]]
    assert not {"body_text", "body_html", "payload"} & set(found[0])
    status, body = call(stack, "POST", "/api/requeue", bearer=viewer, body={"message_id": ids["dead1"]})
    assert status == 403, body
    assert status_of(app_db, ids["dead1"]) == ("dead", 5)


def test_an_admin_requeues_a_message_and_a_group_never_a_sent_one(stack, messages, app_db):
    recipient, ids = messages
    admin = token(stack, "admin")
    status, body = call(stack, "POST", "/api/requeue", bearer=admin, body={"message_id": ids["sent"]})
    assert status == 200 and json.loads(body)["requeued"] == 0
    assert json.loads(body)["reason"] == "message is sent, not dead"
    assert status_of(app_db, ids["sent"]) == ("sent", 1)

    status, body = call(stack, "POST", "/api/requeue", bearer=admin, body={"message_id": ids["dead1"]})
    assert status == 200 and json.loads(body)["message_ids"] == [ids["dead1"]]
    assert status_of(app_db, ids["dead1"]) == ("pending", 0)

    key = hashlib.md5(f"{ERROR} {recipient}".encode()).hexdigest()
    overview = json.loads(call(stack, "GET", "/api/overview", bearer=admin)[1])
    [group] = [g for g in overview["dead_groups"] if g["error_key"] == key]
    assert group["messages"] == 1 and overview["rate_limits_error"] is None
    limits = {r["api"]: r["limit"] for r in overview["rate_limits"]}
    assert limits == {"acrcloud": "50/1s", "soundcharts": "50/1s"}, "the rate_limits variable of the metastore"
    status, body = call(stack, "POST", "/api/requeue", bearer=admin, body={"error_key": key})
    assert status == 200 and json.loads(body)["message_ids"] == [ids["dead2"]] and json.loads(body)["remaining"] == 0

    status, _ = call(stack, "POST", "/api/requeue", bearer=admin, body={"error_key": "x'; --"})
    assert status == 422
    with psycopg.connect(app_db) as conn:
        log = conn.execute("SELECT requeued_by, scope, requeued, message_ids FROM platform.outbox_requeues"
                           " WHERE message_ids && %s::bigint[] ORDER BY id", ([ids["dead1"], ids["dead2"]],)).fetchall()
    assert log == [("admin", "message", 1, [ids["dead1"]]), ("admin", "error_group", 1, [ids["dead2"]])]


def test_the_ui_cookie_authenticates_and_the_plugin_is_in_the_navigation(stack):
    admin = token(stack, "admin")
    status, html = call(stack, "GET", "/", cookie=admin)
    assert status == 200 and "Signed in as <strong>admin</strong>" in html
    [plugin] = [p for p in stack.api("GET", "/plugins")["plugins"] if p["name"] == "jobyard_operator_page"]
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/operator"
    view = plugin["external_views"][0]
    assert (view["href"], view["url_route"], view["destination"]) == ("/operator/", "operator", "nav")


def test_the_queuing_dag_run_is_recorded_and_health_shown(stack, app_db):
    """A real task process (LocalExecutor) queues a health alert: its DAG run is `queued_by`."""
    stack.api("POST", "/variables", {"key": "platform_health_thresholds", "value": '{"disk_free_fraction": 0.99999}'})
    try:
        stack.wait_for_dag("platform_health_check")
        # With a logical date: a manual run without one fails in include/orchestration/schedules.py
        # (last_complete_interval calls pendulum's in_timezone on the datetime run_after).
        run_id = stack.api("POST", "/dags/platform_health_check/dagRuns",
                           {"logical_date": datetime.now(UTC).isoformat(), "conf": {}})["dag_run_id"]
        assert stack.wait_for_run("platform_health_check", run_id, timeout=420) == "success"
    finally:
        stack.api("DELETE", "/variables/platform_health_thresholds")
    with psycopg.connect(app_db) as conn:
        queued_by = {r[0] for r in conn.execute(
            "SELECT queued_by FROM platform.outbox WHERE dedupe_key LIKE 'health:disk:%%' AND created_at > now() - "
            "interval '10 minutes'").fetchall()}
    # The run that saw disk go bad queued the alert: this manual run, or a scheduled one that
    # started after the thresholds changed (an alert goes out once per transition).
    runs = {f"platform_health_check/{r['dag_run_id']}"
            for r in stack.api("GET", "/dags/platform_health_check/dagRuns")["dag_runs"]}
    assert f"platform_health_check/{run_id}" in runs and queued_by and queued_by <= runs, (queued_by, runs)
    health = json.loads(call(stack, "GET", "/api/overview", bearer=token(stack, "viewer"))[1])["health"]
    assert any(h["check_name"] == "disk" and h["ok"] is False for h in health)



@pytest.mark.browser  # `make test FAST=1` skips it; CI runs it
def test_browser_login_nav_search_and_requeue(stack, messages, app_db, session_env):
    sync_playwright = sync_playwright_or_fail()
    recipient, ids = messages
    artefacts = Path(session_env["tmp"]) / "artefacts"
    artefacts.mkdir(parents=True, exist_ok=True)
    shot = artefacts / "operator-page.png"
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1700}, device_scale_factor=1)
            page.goto(f"{stack.base}/", wait_until="load")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(password(stack, "admin"))
            page.get_by_role("button", name="Sign in").click()
            nav = page.get_by_role("link", name="Operator")
            nav.wait_for(timeout=60_000)
            nav.click()
            page.wait_for_url("**/plugin/operator", timeout=30_000)
            frame = page.frame_locator("iframe")
            frame.get_by_role("heading", name="Operator's page").wait_for(timeout=30_000)
            frame.get_by_label("recipient or dedupe key").fill(recipient)
            frame.get_by_role("button", name="Search").click()
            rows = frame.locator("#messages tr[data-id]")
            rows.first.wait_for(timeout=30_000)
            assert rows.count() == 3
            dead = frame.locator(f'#messages tr[data-id="{ids["dead1"]}"]')
            assert "dead" in dead.inner_text()
            button = dead.get_by_role("button", name="Requeue")
            button.click()  # arms it (the UI's frame allows no confirm() dialog) ...
            dead.get_by_role("button", name=f"Confirm: requeue message {ids['dead1']}").click()  # ... and confirms
            frame.locator("#notice").get_by_text("Requeued 1 message(s)").wait_for(timeout=30_000)
            row = frame.locator(f'#messages tr[data-id="{ids["dead1"]}"]')
            assert "pending" in row.inner_text()
            assert status_of(app_db, ids["dead1"]) == ("pending", 0)
            assert status_of(app_db, ids["sent"]) == ("sent", 1)
            time.sleep(0.5)  # the nav's fonts and icons settle
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")
    if os.environ.get("JOBYARD_UPDATE_SCREENSHOTS"):
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)
