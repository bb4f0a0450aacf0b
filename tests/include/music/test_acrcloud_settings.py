"""AcrCloudSettings through clients.api: login/password are the access key and the signing
secret (never sent as a header), `sample_seconds` is bounded, bad fields fail naming them."""

from __future__ import annotations

import json

import pytest

from include.orchestration import clients
from include.orchestration.clients import AcrCloudSettings
from include.orchestration.connections import ConnectionConfigError


def set_conn(monkeypatch, **fields) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ACRCLOUD_API",
                       json.dumps({"conn_type": "http", "host": "https://identify-eu-west-1.acrcloud.com", **fields}))


def test_the_secret_signs_and_is_never_a_header(monkeypatch):
    set_conn(monkeypatch, login="key-1", password="s3cret", extra={"sample_seconds": "10"})
    api, settings = clients.api("acrcloud_api", AcrCloudSettings)
    with api:
        assert settings == AcrCloudSettings("key-1", "s3cret", 10)
        assert api.base_url == "https://identify-eu-west-1.acrcloud.com"
        assert "Authorization" not in api.session.headers and api.session.auth is None
        assert "s3cret" not in json.dumps(dict(api.session.headers))
    assert "s3cret" not in repr(settings)
    assert AcrCloudSettings.from_connection({}, "k", "s").sample_seconds == 12


@pytest.mark.parametrize(("fields", "message"), [
    ({"password": "s"}, "login \\(the ACRCloud access key\\) is required"),
    ({"login": "k"}, "password \\(the ACRCloud access secret\\) is required"),
    ({"login": "k", "password": "s", "extra": {"sample_seconds": 20}}, "extra.sample_seconds must be .* 10..15"),
    ({"login": "k", "password": "s", "extra": {"sample_seconds": 9}}, "extra.sample_seconds"),
])
def test_bad_fields_fail_at_once_naming_them(monkeypatch, fields, message):
    set_conn(monkeypatch, **fields)
    with pytest.raises(ConnectionConfigError, match=f"connection 'acrcloud_api': {message}"):
        clients.api("acrcloud_api", AcrCloudSettings)
