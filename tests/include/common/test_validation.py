"""Record validation: malformed records are skipped and counted; too many fail the batch."""

from __future__ import annotations

import logging

import pytest
from pydantic import BaseModel

from include.common.http import ApiClient
from include.common.validation import BatchReport, TooManyMalformed, validate_records


class Item(BaseModel):
    id: str
    name: str
    value: float


def fetch(api_server, share: float) -> list[dict]:
    return ApiClient(api_server.url).get("/records", params={"n": 100, "malformed": share})["data"]


def test_three_percent_malformed_are_skipped_and_counted(api_server, caplog):
    with caplog.at_level(logging.WARNING, logger="include.common.validation"):
        items, report = validate_records(fetch(api_server, 0.03), Item, "id")
    assert (report.fetched, report.valid, report.malformed) == (100, 97, 3)
    assert all(isinstance(i, Item) for i in items) and len(items) == 97
    assert report.malformed_ids == ["r0", "r33", "r66"]
    assert caplog.messages[0] == ("malformed Item id=r0 skipped: name: Field required; "
                                  "value: Input should be a valid number, unable to parse string as a number")
    report.stored = len(items)
    assert report.check() is report
    assert report.as_dict() == {"fetched": 100, "stored": 97, "malformed": 3}


def test_twenty_percent_malformed_fails_the_batch(api_server):
    _, report = validate_records(fetch(api_server, 0.2), Item, "id")
    with pytest.raises(TooManyMalformed, match=r"^20 of 100 records malformed \(20.0%, threshold 5.0%\): "
                                               r"r0, r5, r10, .*, \.\.\.$"):
        report.check()
    report.check(threshold=0.25)  # a job may tolerate more


def test_records_without_id_are_named_by_position_across_pages():
    report = BatchReport()
    validate_records([{"id": "a", "name": "x", "value": 1}], Item, "id", report=report)
    validate_records([{"name": "y", "value": "bad"}, "not a dict", None], Item, "id", report=report)
    assert (report.fetched, report.valid, report.malformed) == (4, 1, 3)
    assert report.malformed_ids == ["#1", "#2", "#3"]


def test_no_records_is_not_a_failure():
    assert BatchReport().check().as_dict() == {"fetched": 0, "stored": 0, "malformed": 0}
