"""firebase-admin (the official Admin SDK) against the sandbox: its service-account token flow
on the sandbox's Google OAuth endpoint (JWT-bearer grant, signed with a key made here), then
`messaging.send` and `messaging.send_each` to the sandbox's FCM HTTP v1 `messages:send`, the
calls our push sender (include/common/push.py) makes. Only the SDK's FCM base URL is patched:
the SDK has no option for it."""

from __future__ import annotations

import secrets

import firebase_admin
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from firebase_admin import credentials, messaging

PROJECT = "jobyard-contract"
CLIENT_EMAIL = f"fcm-sender@{PROJECT}.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def app(sandbox_url, private_key, monkeypatch):
    """A Firebase app whose service account's token_uri is the sandbox's /token and whose FCM
    base URL (the class constant the SDK formats with the project id) is the sandbox's."""
    monkeypatch.setattr(messaging._MessagingService, "FCM_URL",
                        f"{sandbox_url}/v1/projects/{{0}}/messages:send")
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    service_account = {
        "type": "service_account", "project_id": PROJECT, "private_key_id": secrets.token_hex(20),
        "private_key": pem, "client_email": CLIENT_EMAIL, "client_id": "100000000000000000001",
        "token_uri": f"{sandbox_url}/token",
    }
    firebase = firebase_admin.initialize_app(credentials.Certificate(service_account),
                                             name=f"contract-{secrets.token_hex(4)}")
    yield firebase
    firebase_admin.delete_app(firebase)


def message(token: str, n: int) -> messaging.Message:
    return messaging.Message(token=token, notification=messaging.Notification(title=f"title {n}", body=f"body {n}"),
                             data={"check": "database", "attempt": str(n)})


def test_send_gets_its_token_by_the_jwt_grant_and_the_push_is_recorded(app, sandbox, private_key):
    name = messaging.send(message("device-contract-1", 1), app=app)
    assert name.startswith(f"projects/{PROJECT}/messages/")
    [grant] = sandbox.requests("google_oauth")
    assert (grant["method"], grant["path"], grant["status"]) == ("POST", "/token", 200)
    assert grant["body"]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    # Signed with the account's key; google-auth names Google's token endpoint as the audience
    # whatever token_uri says (google/oauth2/service_account.py), as APIS.md 6.4 shows.
    claims = jwt.decode(grant["body"]["assertion"], private_key.public_key(), algorithms=["RS256"],
                        audience="https://oauth2.googleapis.com/token")
    assert claims["iss"] == CLIENT_EMAIL and claims["scope"] and claims["exp"] - claims["iat"] <= 3600
    [send] = sandbox.requests("fcm")
    assert send["path"] == f"/v1/projects/{PROJECT}/messages:send" and send["status"] == 200
    assert send["headers"]["authorization"].startswith("Bearer sandbox-")  # the token the grant issued
    [push] = sandbox.pushes()
    assert (push["name"], push["project_id"], push["token"]) == (name, PROJECT, "device-contract-1")
    assert push["notification"] == {"title": "title 1", "body": "body 1"}
    assert push["data"] == {"check": "database", "attempt": "1"}


def test_an_unregistered_token_raises_the_sdks_unregistered_error(app, sandbox):
    with pytest.raises(messaging.UnregisteredError) as err:
        messaging.send(message("invalid-device-contract", 1), app=app)
    assert err.value.http_response.status_code == 404
    assert sandbox.pushes() == []


def test_send_each_reports_each_message_and_only_the_registered_ones_are_pushed(app, sandbox):
    tokens = ["device-contract-a", "invalid-device-contract-b", "device-contract-c"]
    batch = messaging.send_each([message(t, n) for n, t in enumerate(tokens)], app=app)
    assert (batch.success_count, batch.failure_count) == (2, 1)
    ok_a, gone_b, ok_c = batch.responses
    assert ok_a.success and ok_c.success and not gone_b.success
    assert isinstance(gone_b.exception, messaging.UnregisteredError)
    pushes = {p["token"]: p for p in sandbox.pushes()}
    assert set(pushes) == {"device-contract-a", "device-contract-c"}
    assert {pushes[t]["name"] for t in pushes} == {ok_a.message_id, ok_c.message_id}
    sends = sandbox.requests("fcm")  # the SDK's threads may each fetch a token: only the shape is asserted
    assert sorted(c["status"] for c in sends) == [200, 200, 404]
    assert all(c["headers"]["authorization"].startswith("Bearer sandbox-") for c in sends)
