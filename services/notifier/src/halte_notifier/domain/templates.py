"""Texts of the informative replies: per-account templates, with defaults naming the advertiser.

Rules (SPEC rule 5: the recipient gets one confirmation "your unsubscription is recorded";
SPEC rule 6: a CONTACT reply names the advertiser and how to reach it; SPEC rule 2: an
informative SMS carries no STOP mention, so none is added here):

- An account may set its own text per purpose and language; otherwise the default below
  is used. Every default names the advertiser, so the recipient knows who confirms.
- A template may only use the placeholders ``{advertiser}``, ``{contact}`` and
  ``{short_code}``; anything else between braces is refused when the template is saved,
  so a typo cannot reach a phone as a literal ``{advertizer}``.
- A template must be 1 to 480 characters; the rendered text is cut nowhere (the carrier
  concatenates segments), but the charge stays one credit whatever its length.
"""

from __future__ import annotations

import re
from typing import Final

from halte_notifier.domain.identifiers import Purpose
from halte_notifier.domain.language import Language

PLACEHOLDERS: Final = frozenset({"advertiser", "contact", "short_code"})
MAX_TEMPLATE_LENGTH: Final = 480
PURPOSES: Final[tuple[Purpose, ...]] = ("optout_confirmation", "contact_reply")

DEFAULT_TEMPLATES: Final[dict[tuple[Purpose, Language], str]] = {
    ("optout_confirmation", "fr"): (
        "{advertiser} : votre désinscription est bien prise en compte. Vous ne recevrez plus de SMS commerciaux."
    ),
    ("optout_confirmation", "en"): (
        "{advertiser}: your unsubscription has been recorded. You will not receive marketing SMS any more."
    ),
    ("contact_reply", "fr"): "{advertiser} : pour nous contacter, {contact}",
    ("contact_reply", "en"): "{advertiser}: to contact us, {contact}",
}

_BRACED = re.compile(r"\{([^{}]*)\}")


class TemplateError(ValueError):
    """A template that cannot be saved, with a machine code and a sentence for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_template(text: str) -> str:
    """Return the template stripped of surrounding blanks, or raise TemplateError."""
    stripped = text.strip()
    if not stripped:
        raise TemplateError("empty_template", "The template is empty.")
    if len(stripped) > MAX_TEMPLATE_LENGTH:
        raise TemplateError("template_too_long", f"The template is longer than {MAX_TEMPLATE_LENGTH} characters.")
    unknown = sorted({name for name in _BRACED.findall(stripped) if name not in PLACEHOLDERS})
    if unknown:
        allowed = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
        raise TemplateError("unknown_placeholder", f"Unknown placeholder(s) {', '.join(unknown)}; allowed: {allowed}.")
    leftover = _BRACED.sub("", stripped)
    if "{" in leftover or "}" in leftover:
        raise TemplateError("unbalanced_braces", "A brace is not closed (placeholders look like {advertiser}).")
    return stripped


def render(template: str, *, advertiser: str, contact: str, short_code: str) -> str:
    """Fill a template's placeholders (never str.format: a template is operator input)."""
    values = {"advertiser": advertiser.strip(), "contact": contact.strip(), "short_code": short_code}
    return _BRACED.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def text_for(
    *,
    purpose: Purpose,
    language: Language,
    custom: str | None,
    advertiser: str,
    contact: str,
    short_code: str,
) -> str:
    """Return the final text of a reply: the account's template if it has one, else the default."""
    template = custom if custom is not None else DEFAULT_TEMPLATES[(purpose, language)]
    return render(template, advertiser=advertiser, contact=contact, short_code=short_code)
