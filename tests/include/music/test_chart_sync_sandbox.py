"""Chart syncs against the sandbox's Soundcharts and its fault switches: a short 5xx storm and a
429 with Retry-After are waited out by the client; a long storm fails the chart as transient
(Airflow retries it); a few malformed ranking items are counted and skipped."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from airflow.sdk.definitions.retry_policy import RetryAction

from include.common.http import ApiClient, RetryableApiError
from include.music import chart_sync
from include.music.soundcharts_client import SoundchartsClient
from include.orchestration.errors import ERROR_POLICY

SLUG = "us-daily"


@pytest.fixture
def claim(music_db):
    with psycopg.connect(music_db) as conn:
        conn.execute("TRUNCATE music.charts, music.tracks, music.chart_rankings RESTART IDENTITY CASCADE")
        conn.execute("""WITH c AS (INSERT INTO music.charts (slug, name, platform, frequency)
                                   VALUES (%s, 'US', 'spotify', 'daily') RETURNING id)
                        INSERT INTO music.chart_sync_schedules (chart_id, frequency, next_sync_at)
                        SELECT id, 'daily', now() - interval '1 hour' FROM c""", (SLUG,))
        conn.commit()
        [found] = chart_sync.claim_due_schedules(conn, datetime.now(UTC), "faults")
        yield conn, found


def client(sandbox, sleeps: list[float]) -> SoundchartsClient:
    return SoundchartsClient(ApiClient(sandbox.base_url, headers={"x-app-id": "a", "x-api-key": "k"},
                                       max_attempts=4, sleep=sleeps.append))


def test_a_short_storm_and_a_throttle_are_waited_out(claim, sandbox):
    conn, found = claim
    sleeps: list[float] = []
    sandbox.set_faults("soundcharts", status_5xx=2, status_429=1, retry_after=3)
    try:
        receipt = chart_sync.sync_chart(conn, client(sandbox, sleeps), found, now=datetime.now(UTC),
                                        run_id="faults", retention_days=2)
    finally:
        sandbox.reset_faults()
    assert receipt["status"] == "completed" and receipt["rankings_created"] > 0
    assert 3.0 in sleeps  # the 429's Retry-After, honoured


def test_a_long_storm_fails_the_chart_as_transient(claim, sandbox):
    conn, found = claim
    sandbox.set_faults("soundcharts", status_5xx=50)
    try:
        with pytest.raises(RetryableApiError) as err:
            chart_sync.sync_chart(conn, client(sandbox, []), found, now=datetime.now(UTC), run_id="faults",
                                  retention_days=2)
    finally:
        sandbox.reset_faults()
    assert ERROR_POLICY.evaluate(err.value, try_number=1, max_tries=4).action == RetryAction.RETRY
    status, error = conn.execute("SELECT status, error FROM music.chart_sync_executions").fetchone()
    assert status == "failed" and "gave up after 4 attempts" in error


def test_a_few_malformed_items_are_counted_and_skipped(claim, sandbox):
    conn, found = claim
    sandbox.set_faults("soundcharts", malformed_fraction=0.01)
    try:
        receipt = chart_sync.sync_chart(conn, client(sandbox, []), found, now=datetime.now(UTC), run_id="faults",
                                        retention_days=3)
    finally:
        sandbox.reset_faults()
    assert receipt["status"] == "completed" and receipt["malformed"] > 0
    stored = conn.execute("SELECT count(*) FROM music.chart_rankings").fetchone()[0]
    assert stored == receipt["rankings_created"] == 200 * receipt["periods_synced"] - receipt["malformed"]
