"""On a live CeleryExecutor stack with a real `airflow celery worker` on Redis: tasks sent to
two named queues both run on the worker and succeed."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.live


def test_tasks_on_two_queues_run_on_the_celery_worker(live_celery):
    run_id = live_celery.trigger("fixture_two_queues")
    assert live_celery.wait_for_run("fixture_two_queues", run_id, timeout=240) == "success"
    tis = {ti["task_id"]: ti for ti in live_celery.task_instances("fixture_two_queues", run_id)}
    assert {t: tis[t]["queue"] for t in tis} == {"on_media": "media", "on_analytics": "analytics"}
    assert all(ti["state"] == "success" for ti in tis.values())
    assert all(ti["executor"] in (None, "CeleryExecutor") and ti["hostname"] for ti in tis.values())
