"""The ads demo seeder: users with accounts on all three platforms, tokens encrypted with the
install's key (never plaintext), 90 days of the generator's stats with the planted anomalies,
and a second seed giving the same database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from include.common.crypto import TokenCipher, generate_key
from include.common.errors import ConfigurationError
from include.demo import ads_data, ads_seed
from include.demo import seed as demo_seed
from tools import devenv

TODAY = date(2026, 3, 31)


@pytest.fixture(scope="module")
def db(session_env):
    with devenv.scratch_database("jobyard_test_ads_seed", session_env["server"]) as url:
        yield url


def test_seed_loads_accounts_encrypted_tokens_and_history(db, monkeypatch):
    key = generate_key()
    monkeypatch.setenv(ads_seed.KEY_ENV, key)
    now = datetime(2026, 3, 31, 12, tzinfo=UTC)
    with psycopg.connect(db) as conn:
        counts = ads_seed.seed(conn, 1, today=TODAY, now=now)
        again = ads_seed.seed(conn, 1, today=TODAY, now=now)
        assert counts == again
        platforms = conn.execute("""SELECT u.name, array_agg(a.platform ORDER BY a.platform) FROM ads.users u
                                      JOIN ads.ad_accounts a ON a.user_id = u.id GROUP BY u.name""").fetchall()
        assert ("Northwind Outdoor", ["google", "meta", "tiktok"]) in platforms
        assert counts["ad_accounts"] == len(ads_data.DEMO_ACCOUNTS) == counts["ad_account_tokens"]
        cipher = TokenCipher(key)
        tokens = conn.execute("""SELECT a.platform, a.external_account_id, t.access_token_enc, t.refresh_token_enc
                                   FROM ads.ad_accounts a JOIN ads.ad_account_tokens t ON t.account_id = a.id""")
        for platform, external, access, refresh in tokens.fetchall():
            demo = next(a for a in ads_data.DEMO_ACCOUNTS if a.external_id == external)
            secret = refresh if platform == "google" else access
            assert cipher.decrypt(secret) == demo.demo_token and demo.demo_token.encode() not in bytes(secret)
        days = conn.execute("SELECT min(day), max(day) FROM ads.campaign_daily_stats").fetchone()
        assert days == (TODAY - timedelta(days=89), TODAY)
        for planted in ads_data.planted_anomalies(TODAY):
            want = ads_data.day_stats(planted.platform, planted.account_id, planted.campaign_id, planted.day, TODAY)
            got = conn.execute("""SELECT s.conversions, s.revenue FROM ads.campaign_daily_stats s
                                    JOIN ads.campaigns c ON c.id = s.campaign_id
                                   WHERE c.external_campaign_id = %s AND s.day = %s""",
                               (planted.campaign_id, planted.day)).fetchone()
            assert got == (want.conversions, want.revenue)
        conn.rollback()


def test_seed_without_the_key_fails_naming_it(db, monkeypatch):
    monkeypatch.delenv(ads_seed.KEY_ENV, raising=False)
    with psycopg.connect(db) as conn, pytest.raises(ConfigurationError, match=ads_seed.KEY_ENV):
        ads_seed.seed(conn, 1)


def test_registered():
    assert demo_seed.SEEDERS["ads"] is ads_seed.seed
