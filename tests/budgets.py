"""A TimeBudget whose answers a test scripts: `ScriptedBudget([True, True, False])` lets two
batches through (each check takes the next answer; True = time left) and stops the third."""

from __future__ import annotations

from collections.abc import Iterable

from include.common.time_budget import TimeBudget


class ScriptedBudget(TimeBudget):
    def __init__(self, answers: Iterable[bool], *, then: bool = False):
        super().__init__(float("inf"))
        self._answers = iter(answers)
        self._then = then  # the answer once the script is used up
        self.checks = 0

    def exhausted(self, margin: float = 0.0) -> bool:
        self.checks += 1
        return not next(self._answers, self._then)
