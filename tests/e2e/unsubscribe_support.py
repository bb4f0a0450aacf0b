"""The check every recurring email's e2e test makes: the RFC 8058 headers arrived at the SMTP
sink, the same link is in the text and HTML bodies, and it verifies (with the dev
`unsubscribe_signing` key, as the product backend would) for that recipient and list."""

from __future__ import annotations

import json
import os

from include.common.unsubscribe import Subscription, token_of_url, verify


def assert_one_click_unsubscribe(mail: dict, domain: str, list_id: str, user_id: int) -> str:
    header = mail["headers"]["List-Unsubscribe"]
    assert header.startswith(f"<https://{domain}.jobyard.localhost/email/unsubscribe?token=v1.") and \
        header.endswith(">"), header
    assert mail["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = header[1:-1]
    assert f"Unsubscribe with one click: {url}" in mail["text"]
    assert f'href="{url}"' in mail["html"]  # base64url tokens need no HTML escaping
    key = json.loads(os.environ["AIRFLOW_CONN_UNSUBSCRIBE_SIGNING"])["password"]
    assert verify(token_of_url(url), key, domain=domain) == Subscription(domain, list_id, str(user_id))
    return url
