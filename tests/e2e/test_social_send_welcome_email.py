"""social_send_welcome_email end to end with dag.test(): the email arrives once, a second
trigger sends nothing and says so, a bad --conf or an unknown user fails clearly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_result, task_states

WHEN = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)



@pytest.fixture
def new_user(app_db) -> dict:
    tag = uuid.uuid4().hex[:10]
    user = {"email": f"welcome_{tag}@e2e.test", "username": f"welcome_{tag}", "full_name": "Wanda Welcome"}
    with psycopg.connect(app_db) as conn:
        user["id"] = conn.execute(
            "INSERT INTO social.users (email, username, full_name) VALUES (%(email)s, %(username)s, %(full_name)s) "
            "RETURNING id", user).fetchone()[0]
    return user


def test_welcome_is_sent_once_and_a_second_trigger_says_so(repo_dags, sandbox, new_user):
    dag = repo_dags["social_send_welcome_email"]
    run = run_dag(dag, WHEN, {"user_id": new_user["id"]})
    assert run.state == "success", task_states(run)
    assert task_result(run, "enqueue_welcome") == {"user_id": new_user["id"], "queued": True,
                                                   "dedupe_key": f"welcome:{new_user['id']}"}
    [mail] = sandbox.emails(to=new_user["email"])
    assert mail["subject"] == "Welcome to Social, Wanda Welcome!"
    assert mail["dedupe_key"] == f"welcome:{new_user['id']}"
    assert f"@{new_user['username']}" in mail["text"] and "Follow a few accounts" in mail["text"]
    assert "Wanda Welcome" in mail["html"]

    again = run_dag(dag, WHEN + timedelta(minutes=5), {"user_id": new_user["id"]})
    assert again.state == "success", task_states(again)
    result = task_result(again, "enqueue_welcome")
    assert result["queued"] is False and result["status"] == "sent"
    assert result["reason"].startswith("already sent or queued on 20")
    assert len(sandbox.emails(to=new_user["email"])) == 1


def test_unknown_user_fails_at_once_naming_the_id(repo_dags, app_db, sandbox, monkeypatch):
    dag = repo_dags["social_send_welcome_email"]
    with psycopg.connect(app_db) as conn:
        missing = conn.execute("SELECT coalesce(max(id), 0) + 100000 FROM social.users").fetchone()[0]
    for task in dag.tasks:  # retries left on, without a delay: a retry would show as try 2
        monkeypatch.setattr(task, "retries", 3)
        monkeypatch.setattr(task, "retry_delay", timedelta(0))
    monkeypatch.setattr(dag, "deadline", None)  # see run_dag
    run = dag.test(logical_date=WHEN + timedelta(hours=1), run_conf={"user_id": missing})
    assert run.state == "failed"
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert tis["enqueue_welcome"].state == "failed"
    assert tis["enqueue_welcome"].try_number == 1  # UnknownUser is permanent: the error policy does not retry
    assert tis["deliver_notifications"].state == "upstream_failed"
    with psycopg.connect(app_db) as conn:
        assert conn.execute("SELECT count(*) FROM platform.outbox WHERE dedupe_key = %s",
                            (f"welcome:{missing}",)).fetchone()[0] == 0


@pytest.mark.parametrize(("conf", "why"), [
    ({"user_id": 0}, "0 is less than the minimum of 1"),
    ({"user_id": "abc"}, "'abc' is not of type 'integer'"),
    ({"user_id": 2**63}, "9223372036854775808 is greater than the maximum of 9223372036854775807"),
    ({}, "No value passed"),
])
def test_bad_conf_is_rejected_naming_the_field(repo_dags, conf, why):
    from airflow.sdk.exceptions import ParamValidationError

    dag = repo_dags["social_send_welcome_email"]
    with pytest.raises(ParamValidationError, match=f"param user_id: {why}"):
        dag.test(logical_date=WHEN + timedelta(hours=2), run_conf=conf)
