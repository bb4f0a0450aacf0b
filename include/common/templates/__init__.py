"""Jinja2 templates of the outbox messages, one folder per domain.

An email template `<domain>/<event>` is three files: `<event>.subject.j2` (one line),
`<event>.txt.j2` (extends `_layout.txt.j2`) and `<event>.html.j2` (extends `_layout.html.j2`,
autoescaped). A push template is `<event>.title.j2` and `<event>.body.j2`. Every template gets
the caller's context plus `product` (the product's display name) and `domain`.
Undefined variables raise: a message with a missing field fails at enqueue, not in a mailbox.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

TEMPLATE_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html"), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(name: str, context: dict) -> str:
    """Render the template file `name` (e.g. "platform/health_alert.txt.j2")."""
    try:
        template = environment().get_template(name)
    except jinja2.TemplateNotFound:
        raise ValueError(f"no template {name!r} under {TEMPLATE_DIR}") from None
    return template.render(context)


def one_line(text: str) -> str:
    """A header-safe single line (subjects, push titles): whitespace runs become one space."""
    return " ".join(text.split())
