"""The template environment's speed-ups change nothing that a template renders: the same
templates through jinja2's stock Environment and through ours give the same text, for the
value kinds that matter to escaping and attribute lookup."""

from __future__ import annotations

import jinja2
import pytest
from markupsafe import Markup

from include.common import templates


class Html:
    def __html__(self) -> str:
        return "<b>already html</b>"


class Obj:
    likes = 3

    def __init__(self) -> None:
        self.name = "obj <name>"


CONTEXT = {
    "s": "<script>alert('x') & \"y\"</script>",
    "n": 42, "f": 1.5, "none": None, "yes": True,
    "markup": Markup("<i>safe</i>"), "html": Html(), "obj": Obj(),
    "d": {"likes": 7, "items": "shadowed", "name": "<d>"},
    "posts": [{"author": "a<1>", "likes": 1}, {"author": "b&2", "likes": 2}],
}

SOURCES = [
    "{{ s }}|{{ n }}|{{ f }}|{{ none }}|{{ yes }}|{{ markup }}|{{ html }}",
    "{{ obj.name }} {{ obj.likes }} {{ d.likes }} {{ d.name }} {{ d['items'] }} {{ d.items is callable }}",
    "{% for p in posts %}{{ loop.index }}. {{ p.author }} {{ p.likes }} like{{ '' if p.likes == 1 else 's' }}\n"
    "{% endfor %}",
    "{% set x %}<u>{{ s }}</u>{% endset %}{{ x }} {{ x|length }}",
    "{% macro card(v) %}<p>{{ v }}</p>{% endmacro %}{{ card(s) }}{{ card(markup) }}",
    "{{ s|e }} {{ s|safe }} {{ posts|map(attribute='author')|join(', ') }} {{ s ~ n }} {{ (s ~ n)|upper }}",
    "{% filter upper %}{{ s }} {{ n }}{% endfilter %} {{ '%s-%d'|format(s, n) }}",
    "{% autoescape false %}{{ s }}{% endautoescape %} {{ s }}",
]


def _stock(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(autoescape=autoescape, undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True)


def _ours(autoescape: bool) -> jinja2.Environment:
    env = templates.environment().overlay(autoescape=autoescape)
    assert isinstance(env, templates._Environment)
    return env


@pytest.mark.parametrize("autoescape", [True, False])
@pytest.mark.parametrize("source", SOURCES)
def test_the_same_output_as_stock_jinja(source, autoescape):
    expected = _stock(autoescape).from_string(source).render(CONTEXT)
    assert _ours(autoescape).from_string(source).render(CONTEXT) == expected


def test_escaping_is_still_on_for_html_templates_and_undefined_still_raises():
    context = {"product": "<P>", "domain": "platform", "check_name": "database", "target": "<t>", "ok": False,
               "detail": "<script>x</script>", "changed_at": "2026-01-05T10:15:00+00:00", "value": None, "unit": "ms"}
    text, html = templates.render_all(["platform/health_alert.txt.j2", "platform/health_alert.html.j2"], context)
    assert "<script>x</script>" in text and "&lt;script&gt;x&lt;/script&gt;" in html and "<script>" not in html
    with pytest.raises(jinja2.UndefinedError, match="is undefined"):
        templates.render_all(["platform/health_alert.txt.j2"], {"product": "p", "domain": "platform"})
    with pytest.raises(ValueError, match="no template"):
        templates.render("platform/nothing.txt.j2", {})
    assert templates.template("platform/health_alert.txt.j2") is templates.template("platform/health_alert.txt.j2")
