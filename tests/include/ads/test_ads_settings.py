"""The ads connections' settings: devenv's dev connections parse, a bad field fails naming
it, and the token key connection gives a cipher (rotation: newest key first)."""

from __future__ import annotations

import json

import pytest

from include.common.crypto import TokenCipher, generate_key
from include.orchestration import clients
from include.orchestration.connections import ConnectionConfigError
from tools import devenv

SETTINGS = {"meta_ads_api": clients.MetaSettings, "tiktok_ads_api": clients.TikTokSettings,
            "google_ads_api": clients.GoogleAdsSettings}


def test_the_dev_connections_parse_and_send_no_secret_header(session_env):
    conns = devenv.connections("postgresql://x@h/db", "postgresql://x@h/af", None, sandbox_http=1234)
    for conn_id, settings in SETTINGS.items():
        connection = clients.api_connection(conn_id, settings)
        assert connection.base_url == "http://127.0.0.1:" + str(session_env["http_port"])
        assert "Authorization" not in connection.client_kwargs["headers"]
        assert conns[conn_id]["password"] not in repr(connection.settings)
    google = clients.api_connection("google_ads_api", clients.GoogleAdsSettings).settings
    assert google.token_uri.endswith("/token") and google.login_customer_id == "9876543210"
    assert TokenCipher(conns["ads_token_key"]["password"])  # a real Fernet key per install


@pytest.mark.parametrize(("settings", "extra", "login", "field"), [
    (clients.MetaSettings, {"api_version": "25"}, "123", "api_version"),
    (clients.MetaSettings, {}, "my-app", "login"),
    (clients.TikTokSettings, {"page_size": 5000}, "app", "page_size"),
    (clients.GoogleAdsSettings, {}, "client", "developer_token"),
    (clients.GoogleAdsSettings, {"developer_token": "d", "login_customer_id": "12-34"}, "client", "login_customer_id"),
])
def test_a_bad_field_is_named(settings, extra, login, field):
    with pytest.raises(ValueError, match=field):
        settings.from_connection(extra, login, "secret")


def test_token_cipher_reads_rotating_keys(monkeypatch):
    old, new = generate_key(), generate_key()
    blob = TokenCipher(old).encrypt("system-token")
    monkeypatch.setenv("AIRFLOW_CONN_ADS_TOKEN_KEY", json.dumps({"conn_type": "generic", "password": f"{new},{old}"}))
    cipher = clients.token_cipher()
    assert cipher.decrypt(blob) == "system-token"
    rotated = cipher.rotate(blob)
    assert TokenCipher(new).decrypt(rotated) == "system-token"
    monkeypatch.setenv("AIRFLOW_CONN_ADS_TOKEN_KEY", json.dumps({"conn_type": "generic", "password": "not-a-key"}))
    with pytest.raises(ConnectionConfigError, match="ads_token_key"):
        clients.token_cipher()
