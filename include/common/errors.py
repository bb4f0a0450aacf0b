"""The two classes every job failure falls in, so that Airflow retries only what can heal.

- permanent: bad input, configuration, an API's refusal (4xx other than 408/429), revoked
  auth, a value the database rejects: retrying gives the same answer, so the task fails at once;
- transient: timeouts, 5xx, throttling, lost connections, a stop by the soft time limit: a
  later try may succeed, so Airflow retries with its backoff.

Our own errors say which they are by subclassing `PermanentError` or `TransientError`.
Third-party exceptions are classified by the dotted names below, matched along the
exception's class hierarchy (most specific first), so classifying imports nothing: the
policy is built at DAG parse time (include/orchestration/errors.py) and psycopg, requests and
redis cost 50-160 ms each to import. Anything unmatched gets Airflow's default (retry).
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["permanent", "transient"]


class PermanentError(Exception):
    """Retrying cannot help: fix the input, the configuration or the data first."""


class TransientError(Exception):
    """A later try may succeed (the service was down, slow or throttling)."""


class ConfigurationError(PermanentError, ValueError):
    """A connection, variable or setting is missing or wrong; the message names it."""


_BY_NAME: dict[str, Kind] = {
    f"{__name__}.PermanentError": "permanent",
    f"{__name__}.TransientError": "transient",
    # Python
    "builtins.ValueError": "permanent",  # bad arguments, unparsable values (pydantic's ValidationError too)
    "builtins.LookupError": "permanent",
    "builtins.ConnectionError": "transient",
    "builtins.TimeoutError": "transient",
    "smtplib.SMTPServerDisconnected": "transient",
    "smtplib.SMTPConnectError": "transient",
    # psycopg 3: lost or refused connections and deadlocks heal; rejected values and SQL do not
    "psycopg.OperationalError": "transient",
    "psycopg.DataError": "permanent",  # e.g. "bigint out of range", invalid input syntax
    "psycopg.ProgrammingError": "permanent",  # e.g. a missing table: migrate first
    "psycopg.errors.InsufficientPrivilege": "permanent",
    # requests and redis-py
    "requests.exceptions.ConnectionError": "transient",
    "requests.exceptions.Timeout": "transient",
    "requests.exceptions.ChunkedEncodingError": "transient",
    "redis.exceptions.ConnectionError": "transient",
    "redis.exceptions.TimeoutError": "transient",
    # Jinja2: a template that does not render will not render on a retry either
    "jinja2.exceptions.TemplateError": "permanent",
}


def classify(exc: BaseException) -> Kind | None:
    """"permanent", "transient", or None (unknown: Airflow's default applies)."""
    for cls in type(exc).__mro__:
        kind = _BY_NAME.get(f"{cls.__module__}.{cls.__qualname__}")
        if kind is not None:
            return kind
    return None
