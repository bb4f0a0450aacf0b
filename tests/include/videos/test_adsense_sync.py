"""sync_earnings against the sandbox and a real PostgreSQL: exact money lands, a rerun writes
nothing, AdSense's revisions of recent days are updated, faults and malformed rows."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest
import requests

from include.common.http import ApiClient
from include.common.validation import TooManyMalformed
from include.demo import videos_stats as demo_stats
from include.videos.adsense_client import AdSenseClient
from include.videos.adsense_sync import sync_earnings

API = "adsense"
ACCOUNT = "pub-2000000000000002"
NAME = f"accounts/{ACCOUNT}"
START, END = date(2026, 5, 1), date(2026, 5, 31)


@pytest.fixture
def conn(videos_db):
    with psycopg.connect(videos_db) as conn:
        conn.execute("DELETE FROM videos.adsense_earnings")
        conn.commit()
        yield conn


@pytest.fixture
def revisions(session_env):
    url = f"http://127.0.0.1:{session_env['http_port']}/_sandbox/adsense/revisions"
    requests.delete(url, timeout=10).raise_for_status()

    def revise(*days: date) -> None:
        requests.post(url, json={"days": [d.isoformat() for d in days]}, timeout=10).raise_for_status()

    yield revise
    requests.delete(url, timeout=10).raise_for_status()


@pytest.fixture
def client(sandbox, session_env, revisions):
    sandbox.reset_faults()
    sandbox.clear_requests()
    with ApiClient(f"http://127.0.0.1:{session_env['http_port']}", headers={"Authorization": "Bearer t"},
                   sleep=lambda s: None) as api:
        yield AdSenseClient(api, currency_code="USD")
    sandbox.reset_faults()


def stored(conn) -> dict[date, tuple]:
    return {r[0]: tuple(r[1:]) for r in conn.execute(
        "SELECT day, estimated_earnings, page_views, clicks, currency FROM videos.adsense_earnings "
        "WHERE account_id = %s", (NAME,))}


def truth(start: date, end: date, revised: dict[date, int] | None = None) -> dict[date, tuple]:
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    return {d: (*demo_stats.adsense_day(NAME, d, (revised or {}).get(d, 0)), "USD") for d in days}


def test_sync_stores_exact_money(conn, client):
    receipt = sync_earnings(conn, client, ACCOUNT, START, END)
    rows = stored(conn)
    assert rows == truth(START, END)
    assert all(type(r[0]) is Decimal for r in rows.values())
    assert receipt == {"account_id": NAME, "start_day": "2026-05-01", "end_day": "2026-05-31", "currency": "USD",
                       "fetched": 31, "stored": 31, "malformed": 0, "inserted": 31, "updated": 0}
    total = conn.execute("SELECT sum(estimated_earnings) FROM videos.adsense_earnings WHERE account_id = %s",
                         (NAME,)).fetchone()[0]
    assert total == sum(v[0] for v in truth(START, END).values())


def test_rerun_writes_nothing_and_revised_days_are_updated(conn, client, revisions):
    sync_earnings(conn, client, ACCOUNT, START, END)
    synced = dict(conn.execute("SELECT day, synced_at FROM videos.adsense_earnings").fetchall())
    again = sync_earnings(conn, client, ACCOUNT, END - timedelta(days=2), END)
    assert (again["inserted"], again["updated"]) == (0, 0)
    assert dict(conn.execute("SELECT day, synced_at FROM videos.adsense_earnings").fetchall()) == synced

    revisions(END - timedelta(days=1), END)  # AdSense revises its latest estimates
    revised = sync_earnings(conn, client, ACCOUNT, END - timedelta(days=2), END)
    assert (revised["inserted"], revised["updated"]) == (0, 2)
    assert stored(conn) == truth(START, END, {END - timedelta(days=1): 1, END: 1})
    assert stored(conn)[END][0] != truth(END, END)[END][0]


def test_429_and_5xx_are_retried(conn, client, sandbox):
    sandbox.set_faults(API, status_429=1, retry_after=1, status_5xx=1)
    sync_earnings(conn, client, ACCOUNT, START, START + timedelta(days=2))
    assert stored(conn) == truth(START, START + timedelta(days=2))
    assert [c["status"] for c in sandbox.requests(API)] == [429, 503, 200]


def test_a_few_malformed_days_are_skipped_and_counted(conn, client, sandbox):
    sandbox.set_faults(API, malformed_fraction=0.03)
    end = START + timedelta(days=199)
    receipt = sync_earnings(conn, client, ACCOUNT, START, end)
    [call] = sandbox.requests(API)
    assert receipt["fetched"] == 200 and receipt["malformed"] == call["malformed"] > 0
    assert receipt["stored"] == receipt["inserted"] == 200 - call["malformed"]
    right = truth(START, end)
    assert all(right[day] == value for day, value in stored(conn).items())


def test_too_many_malformed_days_fail_before_writing(conn, client, sandbox):
    sandbox.set_faults(API, malformed_fraction=0.2)
    with pytest.raises(TooManyMalformed):
        sync_earnings(conn, client, ACCOUNT, START, START + timedelta(days=99))
    conn.rollback()
    assert stored(conn) == {}


def test_bad_input_is_refused(conn, client):
    with pytest.raises(ValueError, match="after"):
        sync_earnings(conn, client, ACCOUNT, END, START)
    with pytest.raises(ValueError, match="pub-1234567890123456"):
        sync_earnings(conn, client, "ca-pub-1", START, END)


def test_the_demo_seed_holds_what_the_api_serves(conn, client):
    from include.demo import videos_seed

    videos_seed.seed(conn, 1, today=date(2026, 6, 10))
    conn.commit()
    receipt = sync_earnings(conn, client, videos_seed.ADSENSE_ACCOUNT, date(2026, 6, 7), date(2026, 6, 9))
    assert (receipt["stored"], receipt["inserted"], receipt["updated"]) == (3, 0, 0)
    assert conn.execute("SELECT count(*), min(day) FROM videos.adsense_earnings WHERE account_id = %s",
                        (videos_seed.ADSENSE_ACCOUNT,)).fetchone() == (180, date(2026, 6, 9) - timedelta(days=179))
