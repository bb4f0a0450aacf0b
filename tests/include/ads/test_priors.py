"""include/ads/priors.py against PostgreSQL itself: `round(a / b, 6)` of numeric(18, 6) values
digit for digit, including the quotients where rounding once (straight to 6 places) differs
from PostgreSQL's two roundings."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import psycopg

from include.ads.priors import RunningTotals, div_round6, numeric6


def _pairs(count: int) -> list[tuple[Decimal, Decimal]]:
    """Random numeric(18, 6) pairs, a third of them with a quotient just below a half-point at
    the 7th place (the double rounding case) and a third near one at any magnitude."""
    rng = random.Random(7)
    pairs = []
    while len(pairs) < count:
        kind = rng.random()
        if kind < 1 / 3:
            b = rng.randrange(10**16, 10**18)
            a = ((2 * rng.randrange(0, 4 * 10**6) + 1) * b) // (2 * 10**6)
        elif kind < 2 / 3:
            a, b = rng.randrange(0, 10 ** rng.randrange(1, 18)), rng.randrange(1, 10 ** rng.randrange(1, 18))
        else:
            b = rng.randrange(1, 10 ** rng.randrange(1, 18))
            a = ((2 * rng.randrange(0, 10 ** rng.randrange(1, 9)) + 1) * b) // (2 * 10**6) + rng.choice([-1, 0, 1])
        if 0 <= a < 10**18:
            pairs.append((Decimal(a).scaleb(-6), Decimal(b).scaleb(-6)))
    return pairs


def _rounded_once(a: Decimal, b: Decimal) -> Decimal:
    q = Fraction(int(a.scaleb(6)), int(b.scaleb(6)))
    return Decimal((2 * q.numerator * 10**6 + q.denominator) // (2 * q.denominator)).scaleb(-6)


def test_div_round6_is_postgresqls_round_of_the_quotient(session_env):
    pairs = _pairs(6000) + [(Decimal("-7.5"), Decimal("2")), (Decimal("0"), Decimal("3.25"))]
    with psycopg.connect(session_env["server"]) as conn:
        theirs = [r[0] for r in conn.execute(
            """SELECT round(a / b, 6)::text FROM unnest(%s::numeric(18, 6)[], %s::numeric(18, 6)[])
                      WITH ORDINALITY u (a, b, i) ORDER BY i""",
            ([a for a, _ in pairs], [b for _, b in pairs])).fetchall()]
    mismatches = [(a, b, str(div_round6(a, b)), pg) for (a, b), pg in zip(pairs, theirs, strict=True)
                  if str(div_round6(a, b)) != pg]
    assert mismatches == []
    # The sample does exercise the second rounding: rounding once would get these wrong.
    assert sum(_rounded_once(a, b) != Decimal(pg) for (a, b), pg in zip(pairs, theirs, strict=True) if a >= 0) > 100


def test_numeric6_rounds_half_away_from_zero_like_a_numeric_column():
    assert str(numeric6(Decimal("1.0000005"))) == "1.000001"
    assert str(numeric6(Decimal("-1.0000005"))) == "-1.000001"
    assert str(numeric6(Decimal("2"))) == "2.000000"


def test_running_totals_keep_numerics_display_scale():
    totals = RunningTotals()
    assert totals.values() == (0, 0, 0, 0, 0, 0, 0, 0) and str(totals.spend) == "0"
    totals.add(numeric6(Decimal(10)), numeric6(Decimal(4)), None)  # CPA 2.5, no ROAS
    assert [str(v) for v in totals.values()] == ["1", "10.000000", "1", "2.500000", "6.250000000000", "0", "0", "0"]
    totals.add(numeric6(Decimal(0)), numeric6(Decimal(0)), numeric6(Decimal(5)))  # nothing spent: no CPA or ROAS
    assert totals.days == 2 and totals.cpa_days == 1 and totals.roas_days == 0
