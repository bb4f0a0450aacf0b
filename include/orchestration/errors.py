"""The one error policy of every task, set by `dag_settings` through Airflow 3.3's
`retry_policy`: permanent errors fail at once, transient ones retry with the DAG's backoff,
anything else gets Airflow's default (retry). The classes are defined, and documented, in
include/common/errors.py; services raise those (or the libraries' own errors) and never
decide about retries themselves.

`AirflowFailException` (e.g. a bad variable, see variables.py) always fails at once: Airflow
does not consult the policy for it.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.definitions.retry_policy import RetryAction, RetryDecision, RetryPolicy

from include.common.errors import classify


class ErrorClassPolicy(RetryPolicy):
    """`RetryPolicy` over include.common.errors.classify. A subclass rather than an
    `ExceptionRetryPolicy` of RetryRules because a RetryRule imports its exception class when
    it is built, i.e. at DAG parse time, and psycopg/requests/redis would cost every DAG
    file 50-160 ms each; `classify` matches class names and imports nothing."""

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int,
                 context: Any = None) -> RetryDecision:
        kind = classify(exception)
        name = type(exception).__name__
        if kind == "permanent":
            return RetryDecision.fail(reason=f"{name} is permanent: retrying cannot help")
        if kind == "transient":
            return RetryDecision.retry(reason=f"{name} is transient: retrying with backoff")
        return RetryDecision.default()

    def serialize(self) -> dict[str, Any]:
        return {"__type": "jobyard.ErrorClassPolicy", "default": RetryAction.DEFAULT.value}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> ErrorClassPolicy:
        return cls()


ERROR_POLICY = ErrorClassPolicy()
