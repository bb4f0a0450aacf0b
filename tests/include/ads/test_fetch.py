"""The stats fetch against the sandbox and a real database: every platform's days land
exactly, a rerun writes nothing, a restated day is updated alone, a rejected token marks its
account and the others still land, too many malformed rows fail the account before writing,
and the soft limit stops between accounts naming the ones left."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest

from include.ads.fetch import AccountsFailed, AccountsInterrupted, fetch_platform
from include.ads.google_ads_client import GoogleAdsClient
from include.ads.meta_client import MetaClient
from include.ads.repository.fetch import refresh_priors, store_stats
from include.ads.tiktok_client import TikTokClient
from include.common.crypto import TokenCipher, generate_key
from include.common.time_budget import SoftTimeLimitExceeded, TimeBudget
from include.demo import ads_data
from tests.include.ads.clients_support import generated, sandbox_api
from tests.include.ads.token_support import account_row, add_account
from tools import devenv

START, END = date(2026, 3, 25), date(2026, 3, 31)
TODAY = date(2026, 3, 31)


@pytest.fixture(scope="module")
def db(session_env):
    with devenv.scratch_database("jobyard_test_ads_fetch", session_env["server"]) as url:
        yield url


@pytest.fixture
def conn(db, sandbox, monkeypatch):
    monkeypatch.setenv("SANDBOX_ADS_TODAY", TODAY.isoformat())
    sandbox.reset_faults()
    with psycopg.connect(db) as connection:
        connection.execute("TRUNCATE ads.users RESTART IDENTITY CASCADE")
        connection.commit()
        yield connection
    sandbox.reset_faults()


@pytest.fixture(scope="module")
def cipher():
    return TokenCipher(generate_key())


def clients(session_env, sleeps: list) -> dict:
    base = f"http://127.0.0.1:{session_env['http_port']}"
    return {"meta": MetaClient(sandbox_api(session_env, sleeps), app_id="1", app_secret="s"),
            "tiktok": TikTokClient(sandbox_api(session_env, sleeps)),
            "google": GoogleAdsClient(sandbox_api(session_env, sleeps), client_id="c", client_secret="s",
                                      developer_token="d", token_uri=f"{base}/token")}


def stored(conn, account_id: int) -> dict:
    rows = conn.execute("""SELECT c.external_campaign_id, s.day, s.spend, s.impressions, s.clicks, s.conversions,
                                  s.revenue
                             FROM ads.campaign_daily_stats s JOIN ads.campaigns c ON c.id = s.campaign_id
                            WHERE s.account_id = %s""", (account_id,)).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


ACCOUNTS = {"meta": ("act_101000000000001", "101000000000001", "system-a", None),
            "tiktok": ("7100000000000000001", "7100000000000000001", "act.a", None),
            "google": ("1010000001", "1010000001", "ya29.old", "demo-refresh")}


@pytest.mark.parametrize("platform", ["meta", "tiktok", "google"])
def test_every_platform_lands_exactly_and_a_rerun_writes_nothing(conn, cipher, session_env, platform):
    external, generator_id, token, refresh = ACCOUNTS[platform]
    account_id = add_account(conn, cipher, platform, external, token, refresh_token=refresh)
    client = clients(session_env, [])[platform]
    result = fetch_platform(conn, platform, client, cipher, START, END, now=datetime.now(UTC))
    expected = generated(platform, generator_id, START, END, TODAY)
    if platform != "tiktok":  # Meta leaves out, Google omits, a zero revenue: stored as 0, not NULL
        expected = {k: (*v[:4], v[4] if v[4] is not None else Decimal(0)) for k, v in expected.items()}
    assert stored(conn, account_id) == expected
    assert (result["inserted"], result["updated"], result["fetched_accounts"]) == \
        (len(expected), 0, [f"{platform}:{external}"])
    assert result["campaigns_created"] == len({k[0] for k in expected})
    again = fetch_platform(conn, platform, client, cipher, START, END, now=datetime.now(UTC))
    assert (again["inserted"], again["updated"], again["campaigns_created"]) == (0, 0, 0)


def test_tiktok_no_value_is_stored_as_null(conn, cipher, session_env):
    account_id = add_account(conn, cipher, "tiktok", "7100000000000000001", "act.a")
    fetch_platform(conn, "tiktok", clients(session_env, [])["tiktok"], cipher, START, END, now=datetime.now(UTC))
    untracked = ads_data.campaigns("tiktok", "7100000000000000001")[2].campaign_id
    revenues = {k[0]: v[4] for k, v in stored(conn, account_id).items()}
    assert untracked in revenues and revenues[untracked] is None
    assert all(v is not None for c, v in revenues.items() if c != untracked)


def test_a_restated_day_is_updated_alone(conn, cipher, session_env):
    account_id = add_account(conn, cipher, "meta", "act_101000000000001", "system-a")
    client = clients(session_env, [])["meta"]
    fetch_platform(conn, "meta", client, cipher, START, END, now=datetime.now(UTC))
    conn.execute("UPDATE ads.campaign_daily_stats SET spend = spend + 1 WHERE account_id = %s AND day = %s",
                 (account_id, END))
    changed = conn.execute("SELECT count(*) FROM ads.campaign_daily_stats WHERE day = %s AND account_id = %s",
                           (END, account_id)).fetchone()[0]
    conn.commit()
    result = fetch_platform(conn, "meta", client, cipher, START, END, now=datetime.now(UTC))
    assert (result["inserted"], result["updated"]) == (0, changed)


def test_a_rejected_token_marks_its_account_and_the_others_land(conn, cipher, session_env):
    revoked = add_account(conn, cipher, "meta", "act_101000000000002", "revoked-a")
    good = add_account(conn, cipher, "meta", "act_101000000000001", "system-a")
    with pytest.raises(AccountsFailed) as caught:
        fetch_platform(conn, "meta", clients(session_env, [])["meta"], cipher, START, END, now=datetime.now(UTC))
    assert not isinstance(caught.value, AccountsInterrupted)  # permanent: the user must reconnect
    assert list(caught.value.result["failed"]) == ["meta:act_101000000000002"]
    assert "act_101000000000002" in str(caught.value)
    assert caught.value.result["fetched_accounts"] == ["meta:act_101000000000001"] and stored(conn, good)
    row = account_row(conn, revoked)
    assert row["status"] == "needs_reauth" and "TokenRevoked" in row["last_error"]
    again = fetch_platform(conn, "meta", clients(session_env, [])["meta"], cipher, START, END, now=datetime.now(UTC))
    assert again["accounts"] == 1  # a needs_reauth account waits for its user


def test_google_invalid_grant_marks_the_account(conn, cipher, session_env):
    account_id = add_account(conn, cipher, "google", "1010000001", "ya29.old", refresh_token="revoked-r")
    with pytest.raises(AccountsFailed):
        fetch_platform(conn, "google", clients(session_env, [])["google"], cipher, START, END, now=datetime.now(UTC))
    assert account_row(conn, account_id)["status"] == "needs_reauth" and stored(conn, account_id) == {}


def test_too_many_malformed_rows_fail_the_account_before_writing(conn, cipher, session_env, sandbox):
    account_id = add_account(conn, cipher, "tiktok", "7100000000000000001", "act.a")
    sandbox.set_faults("tiktok_ads", malformed_fraction=0.5)
    with pytest.raises(AccountsFailed, match="TooManyMalformed"):
        fetch_platform(conn, "tiktok", clients(session_env, [])["tiktok"], cipher, START, END, now=datetime.now(UTC))
    assert stored(conn, account_id) == {} and account_row(conn, account_id)["status"] == "active"


def test_an_outage_fails_transiently(conn, cipher, session_env, sandbox):
    add_account(conn, cipher, "tiktok", "7100000000000000001", "act.a")
    sandbox.set_faults("tiktok_ads", status_5xx=10)
    client = TikTokClient(sandbox_api(session_env, [], max_attempts=2))
    with pytest.raises(AccountsInterrupted):
        fetch_platform(conn, "tiktok", client, cipher, START, END, now=datetime.now(UTC))


def test_the_soft_limit_stops_between_accounts_and_names_the_ones_left(conn, cipher, session_env):
    first = add_account(conn, cipher, "meta", "act_101000000000001", "system-a")
    add_account(conn, cipher, "meta", "act_101000000000002", "system-b")
    add_account(conn, cipher, "meta", "act_101000000000003", "system-c")
    clock = iter([0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 10.0])  # the first account takes 10 of 15 s
    budget = TimeBudget(15, clock=lambda: next(clock))
    with pytest.raises(SoftTimeLimitExceeded, match="accounts left: meta:act_101000000000002, meta:act_10100000000000"):
        fetch_platform(conn, "meta", clients(session_env, [])["meta"], cipher, START, END, now=datetime.now(UTC),
                       budget=budget)
    assert stored(conn, first)


def test_failure_classes_through_the_error_policy():
    from airflow.sdk.definitions.retry_policy import RetryAction

    from include.orchestration.errors import ERROR_POLICY

    receipt = {"platform": "meta", "failed": {"meta:act_1": "TokenRevoked: ..."}}
    assert ERROR_POLICY.evaluate(AccountsFailed(receipt), 1, 4).action == RetryAction.FAIL
    assert ERROR_POLICY.evaluate(AccountsInterrupted(receipt), 1, 4).action == RetryAction.RETRY
    assert ERROR_POLICY.evaluate(SoftTimeLimitExceeded(1, 3, {}), 1, 4).action == RetryAction.RETRY


def _day_rows(campaign: str, first: date, figures: list[tuple]) -> list[tuple]:
    """(spend, conversions, revenue) per day from `first` as store_stats rows of `campaign`."""
    return [(campaign, f"Campaign {campaign}", date.fromordinal(first.toordinal() + i), Decimal(str(s)), 100, 10,
             Decimal(str(c)), None if r is None else Decimal(str(r))) for i, (s, c, r) in enumerate(figures)]


def _priors(conn, account_id: int, campaign: str) -> list[tuple]:
    return conn.execute("""SELECT s.day, s.prior_days, s.prior_spend, s.prior_cpa_days, s.prior_cpa_sum,
                                  s.prior_roas_days, s.prior_roas_sum, s.prior_roas_sq, s.xmin::text
                             FROM ads.campaign_daily_stats s JOIN ads.campaigns c ON c.id = s.campaign_id
                            WHERE s.account_id = %s AND c.external_campaign_id = %s ORDER BY s.day""",
                        (account_id, campaign)).fetchall()


def test_the_merge_keeps_each_rows_running_totals_through_restatements_and_backfills(conn, cipher):
    """The detector reads each row's totals of its campaign's earlier rows (prior_*): the merge
    keeps them equal to a recomputation from scratch whatever order days arrive in, and a
    rerun rewrites nothing."""
    account_id = add_account(conn, cipher, "meta", "act_101000000000009", "system-a")
    d = date(2026, 3, 10)
    first = store_stats(conn, account_id, _day_rows("11", d, [(10, 2, 30), (20, 0, None), (30, 3, 60)])
                        + _day_rows("12", d, [(5, 1, 5)]))
    assert (first["inserted"], first["updated"]) == (4, 0)
    rows = _priors(conn, account_id, "11")
    # day 1: nothing before; day 2: one row (spend 10, CPA 5, ROAS 3); day 3: + spend 20, no CPA, no ROAS
    assert [r[1:8] for r in rows] == [
        (0, 0, 0, 0, 0, 0, 0),
        (1, Decimal(10), 1, Decimal(5), 1, Decimal(3), Decimal(9)),
        (2, Decimal(30), 1, Decimal(5), 1, Decimal(3), Decimal(9))]
    conn.commit()
    # A restated middle day: it and the later row are rewritten, the earlier one is not.
    restated = store_stats(conn, account_id, _day_rows("11", d.replace(day=11), [(40, 4, 80)]))
    assert (restated["inserted"], restated["updated"]) == (0, 1)
    after = _priors(conn, account_id, "11")
    assert after[0][8] == rows[0][8] and after[1][8] != rows[1][8] and after[2][8] != rows[2][8]
    assert after[2][1:8] == (2, Decimal(50), 2, Decimal(15), 2, Decimal(5), Decimal(13))
    # Earlier days arriving later (a backfill), a new day after a gap, and a new campaign.
    back = store_stats(conn, account_id, _day_rows("11", d.replace(day=7), [(8, 2, 16), (9, 3, None)])
                       + _day_rows("11", d.replace(day=20), [(12, 1, 24)]) + _day_rows("13", d, [(7, 7, 7)]))
    assert (back["inserted"], back["updated"]) == (4, 0)
    assert [r[1] for r in _priors(conn, account_id, "11")] == [0, 1, 2, 3, 4, 5]
    conn.commit()
    assert refresh_priors(conn, [account_id]) == 0  # what the merge left is what a recomputation gives
    before = {c: _priors(conn, account_id, c) for c in ("11", "12", "13")}
    again = store_stats(conn, account_id, _day_rows("11", d.replace(day=7), [(8, 2, 16), (9, 3, None)]))
    assert (again["inserted"], again["updated"]) == (0, 0)
    assert {c: _priors(conn, account_id, c) for c in ("11", "12", "13")} == before  # no row rewritten


def test_refresh_priors_repairs_rows_written_around_the_merge(conn, cipher):
    account_id = add_account(conn, cipher, "meta", "act_101000000000009", "system-a")
    d = date(2026, 3, 10)
    store_stats(conn, account_id, _day_rows("11", d, [(10, 2, 30), (20, 4, 40), (30, 3, 60)]))
    conn.execute("UPDATE ads.campaign_daily_stats SET spend = 100 WHERE account_id = %s AND day = %s", (account_id, d))
    assert refresh_priors(conn, [account_id]) == 2  # the two later rows' totals
    assert [r[2] for r in _priors(conn, account_id, "11")] == [Decimal(0), Decimal(100), Decimal(120)]
    assert refresh_priors(conn, [account_id]) == 0


def test_concurrent_merges_of_one_account_take_turns_and_keep_the_totals_right(conn, cipher, db):
    """A second merge of the same account waits for the first to commit (an advisory lock
    per account), so it computes its running totals from the first one's rows and inserts
    no key twice."""
    account_id = add_account(conn, cipher, "meta", "act_101000000000009", "system-a")
    conn.commit()
    d = date(2026, 3, 10)
    store_stats(conn, account_id, _day_rows("11", d, [(10, 2, 30), (20, 4, 40)]))  # not committed yet
    done = threading.Event()

    def second() -> None:
        with psycopg.connect(db) as other:
            store_stats(other, account_id, _day_rows("11", d.replace(day=11), [(25, 5, 50), (30, 3, 60)]))
            other.commit()
        done.set()

    worker = threading.Thread(target=second)
    worker.start()
    assert not done.wait(1.0)  # blocked behind the first merge
    conn.commit()
    worker.join(30)
    assert done.is_set()
    assert [r[1:3] for r in _priors(conn, account_id, "11")] == [(0, Decimal(0)), (1, Decimal(10)),
                                                                 (2, Decimal(35))]
    assert refresh_priors(conn, [account_id]) == 0


def test_stats_follow_their_account_without_a_per_row_key(conn, cipher, db):
    """Migration 0016: store_stats locks the account row once instead of a key check per row;
    deleting or truncating accounts still removes their stats, a missing account is refused,
    and a delete waits for a merge in flight (the lock the key check took)."""
    keep = add_account(conn, cipher, "meta", "act_101000000000011", "system-a")
    gone = add_account(conn, cipher, "meta", "act_101000000000012", "system-b")
    d = date(2026, 3, 10)
    for account_id in (keep, gone):
        assert store_stats(conn, account_id, _day_rows("11", d, [(10, 2, 30), (20, 4, 40)]))["inserted"] == 2
    conn.commit()
    deleted = threading.Event()

    def delete_gone() -> None:
        with psycopg.connect(db) as other:
            other.execute("DELETE FROM ads.ad_accounts WHERE id = %s", (gone,))
            other.commit()
        deleted.set()

    store_stats(conn, gone, _day_rows("11", d.replace(day=12), [(30, 3, 60)]))  # holds the key lock
    worker = threading.Thread(target=delete_gone)
    worker.start()
    assert not deleted.wait(1.0)  # the delete waits for the merge's commit...
    conn.commit()
    worker.join(30)
    assert deleted.is_set()  # ...then removes the merged rows too
    left = conn.execute("SELECT account_id, count(*) FROM ads.campaign_daily_stats GROUP BY 1").fetchall()
    assert left == [(keep, 2)]
    with pytest.raises(LookupError, match=f"ads account {gone} does not exist"):
        store_stats(conn, gone, _day_rows("11", d, [(10, 2, 30)]))
    conn.rollback()
    conn.execute("TRUNCATE ads.ad_accounts CASCADE")
    assert conn.execute("SELECT count(*) FROM ads.campaign_daily_stats").fetchone()[0] == 0
    conn.commit()
