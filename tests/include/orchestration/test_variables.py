"""Variables are read one way: validated as they are read, a bad value fails at once
(AirflowFailException, no retries) naming the variable and what is allowed."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.orchestration import variables


@pytest.mark.parametrize(("raw", "message"), [
    ("0", "variable 'jobyard_test_n' must be an integer between 1 and 90, got '0'"),
    ("abc", "must be an integer between 1 and 90, got 'abc'"),
    ("2.5", "must be an integer between 1 and 90"),
    ("true", "must be an integer between 1 and 90"),
])
def test_a_bad_integer_fails_at_once_naming_the_variable_and_range(monkeypatch, raw, message):
    monkeypatch.setenv("AIRFLOW_VAR_JOBYARD_TEST_N", raw)
    with pytest.raises(AirflowFailException, match=message):
        variables.get_int("jobyard_test_n", 7, minimum=1, maximum=90)


def test_values_and_defaults(monkeypatch):
    assert variables.get_int("jobyard_test_unset", 7, minimum=1) == 7
    monkeypatch.setenv("AIRFLOW_VAR_JOBYARD_TEST_N", "30")
    assert variables.get_int("jobyard_test_n", 7, minimum=1, maximum=90) == 30
    monkeypatch.setenv("AIRFLOW_VAR_JOBYARD_TEST_F", "0.5")
    assert variables.get_float("jobyard_test_f", 1.0, minimum=0.1) == 0.5
    monkeypatch.setenv("AIRFLOW_VAR_JOBYARD_TEST_B", "TRUE")
    assert variables.get_bool("jobyard_test_b", False) is True
    monkeypatch.setenv("AIRFLOW_VAR_JOBYARD_TEST_L", "[320, 640]")
    assert variables.get_list("jobyard_test_l", [], item=int, min_items=1) == [320, 640]
    monkeypatch.setenv("AIRFLOW_VAR_JOBYARD_TEST_J", '{"db_latency_ms": 500}')
    assert variables.get_json("jobyard_test_j", {}) == {"db_latency_ms": 500}
    monkeypatch.setenv("AIRFLOW_VAR_JOBYARD_TEST_S", " /var/backups ")
    assert variables.get_str("jobyard_test_s", "/") == "/var/backups"
    monkeypatch.setenv("AIRFLOW_VAR_JOBYARD_ALERT_EMAILS", "a@x.test, ,b@x.test")
    assert variables.alert_recipients("jobyard") == ["a@x.test", "b@x.test"]


@pytest.mark.parametrize(("reader", "raw", "message"), [
    (lambda: variables.get_float("jobyard_test_v", 1.0, minimum=0.1), "0", "a number >= 0.1"),
    (lambda: variables.get_bool("jobyard_test_v", False), "yes", "true or false"),
    (lambda: variables.get_list("jobyard_test_v", [], item=int, min_items=1), '["a"]', "a JSON list of int"),
    (lambda: variables.get_json("jobyard_test_v", {}), "[1]", "a JSON dict"),
    (lambda: variables.get_str("jobyard_test_v", "a", choices=("x", "y")), "z", "one of x, y"),
])
def test_each_reader_names_what_is_allowed(monkeypatch, reader, raw, message):
    monkeypatch.setenv("AIRFLOW_VAR_JOBYARD_TEST_V", raw)
    with pytest.raises(AirflowFailException, match=message):
        reader()
