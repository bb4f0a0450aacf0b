"""The narrative's words: number extraction and the invented-number check, the facts as
shown, the prompt, and the template narrative (which must always pass the check)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from include.videos import narrative
from include.videos.narrative import extract_numbers, invented_numbers

FACTS = {
    "day": "2026-06-01", "title": "Street food tour", "language": "en",
    "views": 12345, "likes": 600, "comments": 40, "shares": 27, "watch_minutes": 9000,
    "views_prev_day": 11000, "change_prev_day": 1345, "change_prev_day_pct": 12.23,
    "mean_7d": 10234.6, "days_in_mean_7d": 7, "change_vs_mean_7d": 2110.4, "change_vs_mean_7d_pct": 20.62,
    "engagement_rate": 0.054,
    "prediction": {"made_for": "2026-05-31", "method": "model", "model_version": "gbr-1",
                   "next_7_days_views": 80500},
    "keywords": ["street food", "bangkok", "night market"],
}
PROMPT = "Views 12,345; change +1,345 (+12.23%); mean 10,234.6; engagement 5.40%; forecast 80,500; 7 days"


@pytest.mark.parametrize(("text", "expected"), [
    ("12,345 views", [("12,345", "12345", 0, False)]),
    ("12345 views", [("12345", "12345", 0, False)]),
    ("up 12.35% today", [("12.35%", "12.35", 2, True)]),
    ("1,234,567.5 and 3 %", [("1,234,567.5", "1234567.5", 1, False), ("3%", "3", 0, True)]),
    ("on 2026-06-01", [("2026", "2026", 0, False), ("06", "6", 0, False), ("01", "1", 0, False)]),
    ("the list 2026, 06 and 1,2", [("2026", "2026", 0, False), ("06", "6", 0, False),
                                   ("1", "1", 0, False), ("2", "2", 0, False)]),
    ("1,2345 is not grouped", [("1", "1", 0, False), ("2345", "2345", 0, False)]),
    ("播放量 12,345 次，增长 12.2%。", [("12,345", "12345", 0, False), ("12.2%", "12.2", 1, True)]),
    ("no digits, 十二万 only", []),
])
def test_extract_numbers(text, expected):
    assert [(n.text, str(n.value), n.places, n.percent) for n in extract_numbers(text)] == [
        (t, str(Decimal(v)), p, pct) for t, v, p, pct in expected]


@pytest.mark.parametrize("text", [
    "The video had 12,345 views.",
    "The video had 12345 views.",  # separators optional
    "Views rose by 1,345, or 12.23%.",  # the sign is said in words
    "Views rose 12.2% over the day.",  # rounded to fewer decimals than shown
    "Views rose about 12% over the day.",
    "The 7-day mean was 10,234.6, about 10,235 a day.",
    "Engagement was 5.4%, or 5.40 percent.",  # a bare number may match a percentage
    "Expect 80,500 views in the next 7 days.",
    "No numbers at all.",
])
def test_accepts_numbers_shown_in_the_prompt(text):
    assert invented_numbers(text, PROMPT) == []


@pytest.mark.parametrize(("text", "invented"), [
    ("About 42 more came from search.", ["42"]),
    ("Views rose 17% and 17% again.", ["17%"]),  # listed once
    ("12,346 views", ["12,346"]),  # off by one is invented
    ("Views rose 12.3%.", ["12.3%"]),  # 12.23 rounds to 12.2, not 12.3
    ("Engagement was 5.41%.", ["5.41%"]),  # more precise than shown: must be equal
    ("12,345% growth", ["12,345%"]),  # a percentage must match a percentage
    ("a 3x jump from 12,345", ["3"]),  # digits inside words count
])
def test_rejects_invented_numbers(text, invented):
    assert invented_numbers(text, PROMPT) == invented


def test_display_formats_every_fact_once():
    shown = narrative.display(FACTS)
    assert shown["views"] == "12,345"
    assert shown["change_prev_day"] == "+1,345" and shown["change_prev_day_pct"] == "+12.23%"
    assert shown["mean_7d"] == "10,234.6"
    assert shown["change_vs_mean_7d"] == "+2,110.4" and shown["change_vs_mean_7d_pct"] == "+20.62%"
    assert shown["engagement_rate"] == "5.40%"
    assert shown["prediction_views"] == "80,500" and shown["prediction_method"] == "model"
    assert shown["keywords"] == "street food, bangkok, night market"
    falling = narrative.display({**FACTS, "change_prev_day": -250, "change_prev_day_pct": -2.5,
                                 "prediction": None, "engagement_rate": None, "keywords": []})
    assert falling["change_prev_day"] == "-250" and falling["change_prev_day_pct"] == "-2.50%"
    assert falling["prediction_views"] is None and falling["engagement_rate"] is None
    assert falling["keywords"] is None


def test_prompt_shows_the_facts_and_asks_in_the_video_language():
    system, user = narrative.build_messages({**FACTS, "language": "zh"})
    assert system["role"] == "system" and "Simplified Chinese" in system["content"]
    assert user["role"] == "user"
    for shown in ("12,345", "+1,345 (+12.23%)", "10,234.6", "+2,110.4 (+20.62%)", "5.40%", "80,500",
                  "method model, made for 2026-05-31", "street food, bangkok, night market"):
        assert shown in user["content"], shown
    young = narrative.build_messages({**FACTS, "days_in_mean_7d": 3})[1]["content"]
    assert "Mean daily views over the 3 days with stats of the 7 before: 10,234.6" in young


@pytest.mark.parametrize("facts", [
    FACTS,
    {**FACTS, "title": "Top 10 tips for 2026", "change_prev_day": -100, "change_prev_day_pct": -0.9},
    {**FACTS, "views_prev_day": None, "change_prev_day": None, "change_prev_day_pct": None,
     "mean_7d": None, "days_in_mean_7d": 0, "change_vs_mean_7d": None, "change_vs_mean_7d_pct": None,
     "prediction": None, "keywords": []},
    {**FACTS, "views_prev_day": 0, "change_prev_day": 12345, "change_prev_day_pct": None},
])
def test_template_narrative_uses_only_the_prompt_numbers(facts):
    text = narrative.template_narrative(facts)
    assert "12,345 views on 2026-06-01" in text
    assert invented_numbers(text, narrative.prompt_text(narrative.build_messages(facts))) == []


def test_template_narrative_of_a_day_without_stats():
    text = narrative.template_narrative({**FACTS, "views": None})
    assert text == "No statistics were synced for \u201cStreet food tour\u201d on 2026-06-01 yet."
