"""The unsubscribe settings are read one way (include/orchestration/unsubscribe.py): the dev
connection and variable give working links for every domain with recurring mail, and what is
missing or bad fails at once, naming the connection or variable."""

from __future__ import annotations

import json
import os

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.common.unsubscribe import token_of_url, verify
from include.orchestration.connections import ConnectionConfigError
from include.orchestration.unsubscribe import unsubscribe_links

CONN_ENV = "AIRFLOW_CONN_UNSUBSCRIBE_SIGNING"
VAR_ENV = "AIRFLOW_VAR_UNSUBSCRIBE_BASE_URLS"


@pytest.mark.parametrize("domain", ["social", "videos", "fitness", "ads"])
def test_the_dev_settings_sign_links_that_verify(domain):
    links = unsubscribe_links(domain)
    url = links.url("weekly", 7)
    assert url.startswith(f"https://{domain}.jobyard.localhost/email/unsubscribe?token=v1.")
    key = json.loads(os.environ[CONN_ENV])["password"]
    assert verify(token_of_url(url), key, domain=domain).user_id == "7"


def test_a_missing_or_short_key_fails_naming_the_connection(monkeypatch):
    monkeypatch.delenv(CONN_ENV)
    with pytest.raises(ConnectionConfigError, match="connection 'unsubscribe_signing' is not defined"):
        unsubscribe_links("social")
    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "generic", "password": "short"}))
    with pytest.raises(ConnectionConfigError, match="'unsubscribe_signing': password: .*fewer than 16"):
        unsubscribe_links("social")


def test_a_missing_variable_domain_or_bad_url_fails_naming_it(monkeypatch):
    monkeypatch.delenv(VAR_ENV)
    with pytest.raises(AirflowFailException, match="variable 'unsubscribe_base_urls' is not set"):
        unsubscribe_links("social")
    monkeypatch.setenv(VAR_ENV, json.dumps({"ads": "https://ads.example.test/u"}))
    with pytest.raises(AirflowFailException, match="no URL for domain 'social'"):
        unsubscribe_links("social")
    monkeypatch.setenv(VAR_ENV, json.dumps({"social": "http://social.example.test/u"}))
    with pytest.raises(AirflowFailException, match="domain 'social': .*https"):
        unsubscribe_links("social")
    monkeypatch.setenv(VAR_ENV, "not json")
    with pytest.raises(AirflowFailException, match="unsubscribe_base_urls"):
        unsubscribe_links("social")
