"""The one-click unsubscribe links of a domain's recurring email, from Airflow: THE way a task
gets them (include/common/unsubscribe.py signs and verifies; this reads the settings).

- connection `unsubscribe_signing`: password = the HMAC-SHA256 key (at least 16 bytes), or
  several comma-separated while rotating, newest first (the product backend verifies with
  the same list);
- variable `unsubscribe_base_urls`: JSON {domain: https URL}, e.g.
  `{"social": "https://social.example.com/email/unsubscribe", ...}`: the product backend's
  endpoint that takes `?token=` by GET (a confirmation page) and by POST (RFC 8058 one-click).

Read once per task, inside it (never at parse time). A missing connection or key, a missing
variable or domain, or a bad URL fails the task at once without retries
(`ConnectionConfigError` / `AirflowFailException`), naming what is missing.
"""

from __future__ import annotations

from include.common.unsubscribe import UnsubscribeLinks, check_url, parse_keys
from include.orchestration import variables
from include.orchestration.clients import secret_from_password

SIGNING_CONN_ID = "unsubscribe_signing"
BASE_URLS_VARIABLE = "unsubscribe_base_urls"


def signing_keys(conn_id: str = SIGNING_CONN_ID) -> tuple[bytes, ...]:
    return secret_from_password(conn_id, "the HMAC key that signs the one-click unsubscribe links of recurring "
                                "email", parse_keys)


def unsubscribe_links(domain: str, *, conn_id: str = SIGNING_CONN_ID,
                      variable: str = BASE_URLS_VARIABLE) -> UnsubscribeLinks:
    """The signer of `domain`'s one-click unsubscribe links."""
    from airflow.sdk.exceptions import AirflowFailException

    keys = signing_keys(conn_id)
    base_urls = variables.get_json(variable, None)
    if base_urls is None:
        raise AirflowFailException(f"variable {variable!r} is not set (JSON {{domain: https URL}} of the "
                                   "product backends' unsubscribe endpoints)")
    url = base_urls.get(domain)
    if not isinstance(url, str):
        raise AirflowFailException(f"variable {variable!r} has no URL for domain {domain!r} "
                                   f"(has {sorted(base_urls)})")
    try:
        return UnsubscribeLinks(domain, check_url(url), keys)
    except ValueError as exc:
        raise AirflowFailException(f"variable {variable!r}, domain {domain!r}: {exc}") from None
