"""Jinja2 templates per locale: `templates/<locale>/<name>.subject` and `<name>.txt` (and
`<name>.sms` where the SMS must say more than the subject does), the words they share in
`templates/<locale>/_words.txt` (reasons, tier names), and one HTML layout that wraps the text
(autoescaped, so a name like `<b>` stays text). Filters: `money`, `date`.

Text templates are not escaped (plain text has nothing to escape); anything ending in `.html`
is. Undefined variables raise, so a template that asks for something the event lacks fails
in the tests, not in a customer's inbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from notification_service.domain import formats
from notification_service.domain.locales import DEFAULT_LOCALE, LOCALES
from notification_service.domain.templates import Template

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
LAYOUT = "layout.html"


@dataclass(frozen=True, slots=True)
class Rendered:
    """`sms` is the SMS text: the template's `.sms` where it has one, else the subject."""

    subject: str
    text: str
    html: str
    sms: str


def _field(value: Any, name: str) -> Any:
    return value[name] if isinstance(value, Mapping) else getattr(value, name)


def _locale(context: Context) -> str:
    locale: str = context.get("locale", DEFAULT_LOCALE)
    return locale


@pass_context
def _money(context: Context, value: Any) -> str:
    """`{{ event.total | money }}`: a Money (or {"amount", "currency"}) in the reader's words."""
    return formats.format_money(
        int(_field(value, "amount")), str(_field(value, "currency")), _locale(context)
    )


@pass_context
def _date(context: Context, value: datetime) -> str:
    return formats.format_date(value, _locale(context))


class Renderer:
    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        self.env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(money=_money, date=_date)
        # Listed once: looking for a missing `.sms` file at every render costs a stat call.
        self.sms_templates = frozenset(
            self.env.list_templates(filter_func=lambda name: name.endswith(".sms"))
        )

    def render(self, template: Template, locale: str, context: Mapping[str, Any]) -> Rendered:
        """The subject (one line), the text and its HTML version, in `locale`."""
        if locale not in LOCALES:
            locale = DEFAULT_LOCALE
        values = {**context, "locale": locale}
        subject = self.env.get_template(f"{locale}/{template.value}.subject").render(values)
        subject = " ".join(subject.split())  # one header line, whatever a name contains
        text = self.env.get_template(f"{locale}/{template.value}.txt").render(values).strip()
        html = self.env.get_template(LAYOUT).render(
            lang=locale, subject=subject, paragraphs=[p for p in text.split("\n\n") if p.strip()]
        )
        sms_name = f"{locale}/{template.value}.sms"
        sms = subject
        if sms_name in self.sms_templates:
            sms = " ".join(self.env.get_template(sms_name).render(values).split())
        return Rendered(subject=subject, text=text + "\n", html=html, sms=sms)
