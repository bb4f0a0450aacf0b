"""A campaign's running totals (`prior_*`, migration 0011) computed in Python, equal to what the
SQL of include/ads/repository/fetch.py computes, value and display scale: the append path of
the stats upsert COPies new rows with their totals instead of computing them in a window.

Why they can be equal: every total is a sum of exact NUMERIC values. Additions and products
are exact in both (Decimal at 100 digits, with Inexact trapped, so a rounding raises instead
of drifting), and a Decimal's exponent follows the same rules as a NUMERIC's display scale
(a sum takes the largest scale, a product the sum of both). The one inexact operation is
`round(a / b, 6)`. PostgreSQL first rounds the quotient half away from zero at a scale
`select_div_scale` picks (at least 16 significant digits, from the base-10000 weights and
first digits of both operands), then rounds that to 6 places. `div_round6` repeats both
steps in integers. Rounding once, straight to 6 places, would differ where the quotient's
digits after the 6th are 4999...9 up to that scale.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Context, Decimal, Inexact

SCALE = 6
_STEP = Decimal(1).scaleb(-SCALE)
# Big enough for every sum of numeric(18, 6) figures and their squares; a rounding would raise.
_EXACT = Context(prec=100, traps=[Inexact])
# PostgreSQL numeric.c: NUMERIC_MIN_SIG_DIGITS, NUMERIC_MAX_DISPLAY_SCALE, DEC_DIGITS.
_MIN_SIG_DIGITS, _MAX_DISPLAY_SCALE, _DEC_DIGITS = 16, 1000, 4


def numeric6(value: Decimal) -> Decimal:
    """The value a numeric(18, 6) column stores: rounded half away from zero to 6 places."""
    return Decimal(value).quantize(_STEP, rounding=ROUND_HALF_UP)


def _weight_first(units: int) -> tuple[int, int]:
    """The base-10000 weight and first digit of |units| x 10^-6 (0, 0 for zero), as numeric.c
    sees a value of display scale 6."""
    if units == 0:
        return 0, 0
    value = Decimal(abs(units)).scaleb(-SCALE)
    weight = value.adjusted() // _DEC_DIGITS
    return weight, int(value.scaleb(-_DEC_DIGITS * weight))


def _half_away(numerator: int, denominator: int) -> int:
    """numerator / denominator (denominator > 0) rounded half away from zero."""
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return -magnitude if numerator < 0 else magnitude


def div_round6(a: Decimal, b: Decimal) -> Decimal:
    """round(a / b, 6) of two numeric(18, 6) values (b != 0), as PostgreSQL computes it."""
    x, y = int(a.scaleb(SCALE)), int(b.scaleb(SCALE))
    (w1, f1), (w2, f2) = _weight_first(x), _weight_first(y)
    qweight = w1 - w2 - (1 if f1 <= f2 else 0)
    rscale = min(max(_MIN_SIG_DIGITS - qweight * _DEC_DIGITS, SCALE, 0), _MAX_DISPLAY_SCALE)
    if y < 0:
        x, y = -x, -y
    quotient = _half_away(x * 10 ** rscale, y)  # at rscale places
    return Decimal(_half_away(quotient, 10 ** (rscale - SCALE))).scaleb(-SCALE)


class RunningTotals:
    """The totals of a campaign's rows so far, in PRIORS order: days, spend, CPA days, sum and
    sum of squares, ROAS days, sum and sum of squares. `start` is the stored totals of the
    campaign's last row (its priors plus its own figures: `add` them), or nothing."""

    __slots__ = ("days", "spend", "cpa_days", "cpa_sum", "cpa_sq", "roas_days", "roas_sum", "roas_sq")

    def __init__(self) -> None:
        zero = Decimal(0)
        self.days = self.cpa_days = self.roas_days = 0
        self.spend = self.cpa_sum = self.cpa_sq = self.roas_sum = self.roas_sq = zero

    @classmethod
    def from_stored(cls, priors: Iterable) -> RunningTotals:
        totals = cls()
        (totals.days, totals.spend, totals.cpa_days, totals.cpa_sum, totals.cpa_sq, totals.roas_days,
         totals.roas_sum, totals.roas_sq) = priors
        return totals

    def values(self) -> tuple:
        return (self.days, self.spend, self.cpa_days, self.cpa_sum, self.cpa_sq, self.roas_days, self.roas_sum,
                self.roas_sq)

    def add(self, spend: Decimal, conversions: Decimal, revenue: Decimal | None) -> None:
        """One row's contribution (figures as stored: numeric6): CPA where there were
        conversions, ROAS where revenue was reported and something was spent."""
        ctx = _EXACT
        self.days += 1
        self.spend = ctx.add(self.spend, spend)
        if conversions > 0:
            cpa = div_round6(spend, conversions)
            self.cpa_days += 1
            self.cpa_sum = ctx.add(self.cpa_sum, cpa)
            self.cpa_sq = ctx.add(self.cpa_sq, ctx.multiply(cpa, cpa))
        if revenue is not None and spend > 0:
            roas = div_round6(revenue, spend)
            self.roas_days += 1
            self.roas_sum = ctx.add(self.roas_sum, roas)
            self.roas_sq = ctx.add(self.roas_sq, ctx.multiply(roas, roas))
