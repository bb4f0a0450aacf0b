"""Validate fetched records against pydantic models: skip and count the malformed ones, and
fail the batch when too many are malformed (an API change, not a stray bad row)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class TooManyMalformed(ValueError):
    """The share of malformed records is above the threshold: stop before storing a bad batch."""


@dataclass
class BatchReport:
    """Counts of one job's records; `stored` is set by the caller after it writes them."""

    fetched: int = 0
    valid: int = 0
    malformed: int = 0
    malformed_ids: list[str] = field(default_factory=list)
    stored: int = 0

    def check(self, threshold: float = 0.05) -> BatchReport:
        """Raise TooManyMalformed when malformed/fetched exceeds `threshold`; returns self."""
        if self.fetched and self.malformed / self.fetched > threshold:
            shown = ", ".join(self.malformed_ids[:10]) + (", ..." if self.malformed > 10 else "")
            raise TooManyMalformed(
                f"{self.malformed} of {self.fetched} records malformed "
                f"({self.malformed / self.fetched:.1%}, threshold {threshold:.1%}): {shown}")
        return self

    def as_dict(self) -> dict[str, int]:
        """The task's result (a receipt, not data)."""
        return {"fetched": self.fetched, "stored": self.stored, "malformed": self.malformed}


def _summary(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<record>'}: {e['msg']}" for e in exc.errors())


def validate_records(records: Iterable[Any], model: type[M], id_field: str | None = "id", *,
                     report: BatchReport | None = None) -> tuple[list[M], BatchReport]:
    """Parse each record with `model`; a malformed one is logged with its id (or its index
    when it has none: its position), counted and skipped. Pass `report` to add pages to one running count."""
    report = report if report is not None else BatchReport()
    valid: list[M] = []
    for record in records:
        index = report.fetched  # the position across all pages added to this report
        report.fetched += 1
        try:
            valid.append(model.model_validate(record))
        except ValidationError as exc:
            rid = record.get(id_field) if id_field and isinstance(record, Mapping) else None
            label = f"{id_field}={rid}" if rid is not None else f"#{index}"
            log.warning("malformed %s %s skipped: %s", model.__name__, label, _summary(exc))
            report.malformed += 1
            report.malformed_ids.append(str(rid) if rid is not None else f"#{index}")
    report.valid += len(valid)
    return valid, report
