"""Accounts for the ads e2e tests, their tokens encrypted with the session's `ads_token_key`."""

from __future__ import annotations

import json
import os
import random

import psycopg

from include.common.crypto import TokenCipher
from tests.include.ads.token_support import add_account


def session_cipher() -> TokenCipher:
    return TokenCipher(json.loads(os.environ["AIRFLOW_CONN_ADS_TOKEN_KEY"])["password"])


def fresh_ids() -> dict[str, str]:
    """Account ids no other test uses (the stand-ins serve any well-formed id)."""
    return {"meta": str(random.randrange(10**14, 10**15)), "tiktok": str(random.randrange(10**18, 10**19)),
            "google": str(random.randrange(10**9, 10**10))}


def empty_ads(app_db: str) -> None:
    """The ads jobs read every account: start from none."""
    with psycopg.connect(app_db) as conn:
        conn.execute("TRUNCATE ads.users RESTART IDENTITY CASCADE")
        conn.execute("DELETE FROM platform.outbox WHERE dedupe_key LIKE 'ads-token:%'")


def add(app_db: str, platform: str, external_id: str, token: str, refresh_token: str | None = None,
        email: str | None = None) -> int:
    with psycopg.connect(app_db) as conn:
        return add_account(conn, session_cipher(), platform, external_id, token, refresh_token=refresh_token,
                           email=email)
