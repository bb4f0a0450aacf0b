"""The words of a daily video report: the facts as shown to people and to the LLM, the
prompt, the deterministic template narrative, and the check that an LLM narrative uses only
numbers from the facts.

One formatter (`display`) renders every number the same way for the prompt, the template
narrative and the email, so "the number the prompt showed" is well defined: integers with
thousands separators (12,345), the 7-day mean with one decimal (1,021.4), percentages with
two (12.35%). The checker accepts a number in the LLM's text when it is one of the numbers
of the prompt, written with or without separators, with or without its sign (prose says
"fell by 250"), or rounded to fewer decimals (12.35% may be written 12.3%, 12.4% or 12%).
A percentage must match a percentage; a bare number may match either (a model may write
"12.35 percent"). Only ASCII digits count as numbers: Chinese numerals are not checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

TEMPLATE_REASON_NO_STATS = "no stats for the day"
LANGUAGES = {"en": "English", "zh": "Simplified Chinese"}

# 12,345 / 12,345.6 / 12345 / 12.35 / 12.35%: a separator is a comma followed by exactly
# three digits, so "2026, 06" is two numbers. Digits inside words ("mp4") count too: the
# check is meant to be strict, and the prompt is read with the same pattern.
NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)\s?%?|\d+(?:\.\d+)?\s?%?")

SYSTEM_PROMPT = (
    "You write the daily performance note of one video for its creator. Use only the facts "
    "you are given. Every number you write must appear in the facts exactly as shown; do not "
    "compute, estimate or round new numbers, and do not mention numbers that are not there. "
    "Write two to four plain sentences, no lists, no headings."
)


@dataclass(frozen=True)
class Number:
    """A number as written: its text, magnitude (sign dropped), decimals and percent sign."""

    text: str
    value: Decimal
    places: int
    percent: bool


def extract_numbers(text: str) -> list[Number]:
    found = []
    for match in NUMBER.finditer(text):
        raw = match.group(0)
        percent = raw.endswith("%")
        digits = raw.rstrip("%").strip().replace(",", "")
        places = len(digits.partition(".")[2])
        found.append(Number(raw.replace(" ", ""), Decimal(digits), places, percent))
    return found


def _matches(number: Number, shown: Number) -> bool:
    if number.percent and not shown.percent:
        return False
    if number.places >= shown.places:  # as precise as shown (trailing zeros allowed): equal
        return number.value == shown.value
    # fewer decimals than shown: a rounding of the shown value (either way at a half)
    return abs(number.value - shown.value) <= Decimal(5).scaleb(-(number.places + 1))


def invented_numbers(text: str, prompt_text: str) -> list[str]:
    """The numbers of `text` (distinct, in order, as written) that match no number of
    `prompt_text` under the rules of the module docstring."""
    shown = extract_numbers(prompt_text)
    invented: list[str] = []
    for number in extract_numbers(text):
        if not any(_matches(number, s) for s in shown) and number.text not in invented:
            invented.append(number.text)
    return invented


# -- formatting ---------------------------------------------------------------------------------

def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def fmt_int(value: Any) -> str:
    return f"{int(value):,}"


def fmt_signed(value: Any, places: int = 0) -> str:
    return f"{_dec(value):+,.{places}f}"


def fmt_decimal(value: Any, places: int) -> str:
    return f"{_dec(value):,.{places}f}"


def fmt_pct(value: Any, *, signed: bool = False) -> str:
    return f"{_dec(value):{'+' if signed else ''},.2f}%"


def display(facts: dict) -> dict[str, str | None]:
    """Every fact as it is shown (None when the fact is unknown)."""

    def shown(key: str, render) -> str | None:
        return None if facts.get(key) is None else render(facts[key])

    prediction = facts.get("prediction")
    rate = facts.get("engagement_rate")
    return {
        "day": facts["day"],
        "title": facts["title"],
        "views": shown("views", fmt_int),
        "likes": shown("likes", fmt_int),
        "comments": shown("comments", fmt_int),
        "shares": shown("shares", fmt_int),
        "views_prev_day": shown("views_prev_day", fmt_int),
        "change_prev_day": shown("change_prev_day", fmt_signed),
        "change_prev_day_pct": shown("change_prev_day_pct", lambda v: fmt_pct(v, signed=True)),
        "mean_7d": shown("mean_7d", lambda v: fmt_decimal(v, 1)),
        "change_vs_mean_7d": shown("change_vs_mean_7d", lambda v: fmt_signed(v, 1)),
        "change_vs_mean_7d_pct": shown("change_vs_mean_7d_pct", lambda v: fmt_pct(v, signed=True)),
        "engagement_rate": None if rate is None else fmt_pct(_dec(rate) * 100),
        "prediction_views": None if not prediction else fmt_int(prediction["next_7_days_views"]),
        "prediction_method": None if not prediction else prediction["method"],
        "prediction_made_for": None if not prediction else prediction["made_for"],
        "keywords": ", ".join(facts.get("keywords") or []) or None,
    }


def _mean_window(facts: dict) -> str:
    """What the 7-day mean covers: the days before D that have stats (a young video has
    fewer than 7)."""
    days = facts.get("days_in_mean_7d")
    if days is None or days >= 7:
        return "the 7 days before"
    return f"the {days} day{'' if days == 1 else 's'} with stats of the 7 before"


def _change(absolute: str | None, pct: str | None) -> str | None:
    if absolute is None:
        return None
    return f"{absolute} ({pct})" if pct is not None else absolute


def fact_lines(facts: dict) -> list[str]:
    """The facts as labelled lines: the user message of the prompt."""
    d = display(facts)
    lines = [f"Video title: {d['title']}", f"Day: {d['day']}", f"Views on the day: {d['views']}"]
    if d["likes"] is not None:
        lines.append(f"Likes: {d['likes']}; comments: {d['comments']}; shares: {d['shares']}")
    if d["views_prev_day"] is not None:
        lines.append(f"Views the day before: {d['views_prev_day']}")
        lines.append(f"Change vs the day before: {_change(d['change_prev_day'], d['change_prev_day_pct'])}")
    if d["mean_7d"] is not None:
        lines.append(f"Mean daily views over {_mean_window(facts)}: {d['mean_7d']}")
        lines.append(f"Change vs that mean: {_change(d['change_vs_mean_7d'], d['change_vs_mean_7d_pct'])}")
    if d["engagement_rate"] is not None:
        lines.append(f"Engagement rate ((likes + comments + shares) / views): {d['engagement_rate']}")
    if d["prediction_views"] is not None:
        lines.append(f"Forecast views over the next 7 days: {d['prediction_views']} "
                     f"(method {d['prediction_method']}, made for {d['prediction_made_for']})")
    if d["keywords"]:
        lines.append(f"Top keywords: {d['keywords']}")
    return lines


def build_messages(facts: dict) -> list[dict]:
    """The chat-completions messages asking for the narrative of one video's facts."""
    language = LANGUAGES.get(facts.get("language") or "en", "English")
    return [
        {"role": "system", "content": f"{SYSTEM_PROMPT} Write in {language}."},
        {"role": "user", "content": "Facts:\n" + "\n".join(fact_lines(facts))},
    ]


def prompt_text(messages: list[dict]) -> str:
    """Everything the prompt showed: what a narrative's numbers are checked against."""
    return "\n".join(str(m["content"]) for m in messages)


def template_narrative(facts: dict) -> str:
    """The deterministic narrative: the same facts in fixed sentences (English)."""
    d = display(facts)
    title = f"\u201c{d['title']}\u201d"
    if d["views"] is None:
        return f"No statistics were synced for {title} on {d['day']} yet."
    sentences = [f"{title} had {d['views']} views on {d['day']}."]
    if d["change_prev_day"] is not None:
        sentences.append(f"That is {_change(d['change_prev_day'], d['change_prev_day_pct'])} "
                         f"against the day before ({d['views_prev_day']} views).")
    if d["mean_7d"] is not None:
        sentences.append(f"Against the mean of {_mean_window(facts)} ({d['mean_7d']} views a day) it is "
                         f"{_change(d['change_vs_mean_7d'], d['change_vs_mean_7d_pct'])}.")
    if d["engagement_rate"] is not None:
        sentences.append(f"Engagement rate was {d['engagement_rate']} ({d['likes']} likes, "
                         f"{d['comments']} comments, {d['shares']} shares).")
    if d["prediction_views"] is not None:
        sentences.append(f"The latest forecast ({d['prediction_method']}, made for {d['prediction_made_for']}) "
                         f"expects {d['prediction_views']} views over the next 7 days.")
    if d["keywords"]:
        sentences.append(f"Top keywords: {d['keywords']}.")
    return " ".join(sentences)
