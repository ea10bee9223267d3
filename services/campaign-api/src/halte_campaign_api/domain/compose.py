"""Composition: the final text of an SMS exactly as the dispatcher will send it, and its sender.

Rules (docs/compliance-rules.md; the recognisers, the mention's wording and the short-code
ranges are halte_rules', the very functions the dispatcher decides with):

- Every marketing SMS names the advertiser. When the client's text does not name it
  (``halte_rules.mention.names_advertiser``: case-, accent- and spacing-insensitive, as a
  whole word sequence), it is prefixed as ``"<Advertiser> : <text>"``.
- Every marketing SMS to a French number carries the free opt-out mention. It is added
  (``STOP au <short code>``) unless the client already wrote one the dispatcher recognises
  ("stop au 36111", "STOP 36111", "STOP au 36 111", "Stop SMS au 36111"). A STOP
  instruction naming another number ("STOP au 36999", "STOP au 361112") is refused
  (``stop_mention_wrong_number``), since the reply would not reach the account.
- A marketing SMS to a French number comes from the account's 5-digit short code of the
  marketing range (36xxx), the number that receives the STOP reply: an alphanumeric sender
  makes the reply impossible (``alphanumeric_sender``), an ordinary 06/07 mobile number may
  not carry marketing (``mobile_number_sender``), 38xxx is for transactional traffic
  (``transactional_short_code``) and other ranges are not assigned to marketing
  (``not_marketing_short_code``). For destinations outside France an unsubscribe link to the
  platform's page replaces the STOP reply.
- Informative SMS get neither mention nor prefix, but their text must be informative
  (``promotional_content``, see informative.py). An account in "notification" mode only
  sends informative SMS, so a marketing message from it is refused.

Personalisation: ``{first_name}`` and ``{last_name}`` (any case, spaces inside the
braces tolerated) are replaced by the recipient's values. An empty value takes the
configured default, ``""`` unless the caller passes another (e.g. ``"client"``); an
empty replacement removes the placeholder and tidies the spaces around it
("Bonjour {first_name}, ..." becomes "Bonjour, ..."). Any other ``{identifier}`` is an
unknown placeholder, refused at draft time with ``unknown_placeholder``. Braces around
anything that is not an identifier (``{}``, ``{-50%}``, ``{ 2 x 1 }``) are not
placeholders and stay literal; they are sent as written (and count double in GSM-7).
The decisions about the mention and the advertiser name are taken on the client's own
words, never on the recipient's values, so every recipient of a campaign gets the same
additions as the preview showed. A placeholder never counts towards a mention or a name
("STOP au {first_name} 36111" carries none). A placeholder glued to the mention or the name
("STOP au 36111{first_name}") is refused (``stop_mention_wrong_number``), since a value starting
with a digit would change the number; glued to the name it makes the name count as absent. As a
last guard, the personalised text is checked again and the addition is made if it still
lacks the mention or the name: a recipient's text may then differ from the preview, the
price of never sending a message the dispatcher would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from halte_campaign_api.domain.errors import DomainError
from halte_rules.mention import VALUE_MARK, names_advertiser, stop_mention, stop_mention_problem, wrong_stop_number
from halte_rules.short_codes import compact, is_short_code, normalise_short_code, short_code_range
from halte_shared.phone import is_ordinary_mobile_sender

Kind = Literal["marketing", "informative"]
AccountMode = Literal["marketing", "notification"]

KINDS: Final = ("marketing", "informative")
ACCOUNT_MODES: Final = ("marketing", "notification")

PLACEHOLDER_RE: Final = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
PERSONALISATION_FIELDS: Final = ("first_name", "last_name")
#: An empty first name gives "Bonjour, ..." rather than an invented word; callers may pass "client".
DEFAULT_FIELD_VALUES: Final[Mapping[str, str]] = {"first_name": "", "last_name": ""}

UNSUBSCRIBE_TEMPLATE: Final = "STOP : {url}"
ADVERTISER_PREFIX_TEMPLATE: Final = "{name} : {text}"

ALPHANUMERIC_SENDER_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .&'_-]{0,9}[A-Za-z0-9.]|[A-Za-z0-9]")
MAX_NUMERIC_SENDER_DIGITS: Final = 15
#: French mobile shapes (06/07), caught even where phonenumbers knows no allocated range.
FRENCH_MOBILE_RE: Final = re.compile(r"(?:0|\+33|0033)[67]\d{8}")

# Control characters other than line breaks and tabs have no place in an SMS and would
# collide with the marker used below for removed placeholders.
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_GAP: Final = "\x00"
_GAP_RE: Final = re.compile(r"([ \t]*)\x00(?:[ \t]*\x00)*([ \t]*)")
# "{first_name}, votre commande..." with no name: the comma that followed it goes too.
_LEADING_GAP_PUNCT_RE: Final = re.compile(r"(?m)^([ \t]*\x00(?:[ \t]*\x00)*)[ \t]*[,;:][ \t]*")


@dataclass(frozen=True, slots=True)
class ComposedText:
    """A composed SMS: the final text and what the platform added to the client's words."""

    text: str
    body: str
    advertiser_added: bool
    mention_added: bool
    unsubscribe_link_added: bool
    placeholders: tuple[str, ...]
    defaulted_fields: tuple[str, ...]

    @property
    def additions_made(self) -> bool:
        """Whether the platform added anything to the client's words."""
        return self.advertiser_added or self.mention_added or self.unsubscribe_link_added


def _tidy_value(value: object) -> str:
    if value is None:
        return ""
    # A name with a line break or a control character must not reshape the message.
    return " ".join(_CONTROL_RE.sub(" ", str(value)).split())


def placeholders_in(text: str) -> tuple[str, ...]:
    """Return the personalisation fields a text uses, refusing unknown placeholders."""
    found: list[str] = []
    for match in PLACEHOLDER_RE.finditer(text):
        name = match.group(1).lower()
        if name not in PERSONALISATION_FIELDS:
            raise DomainError(
                "unknown_placeholder",
                f"{match.group(0)} is not a personalisation field (known: "
                + ", ".join("{" + f + "}" for f in PERSONALISATION_FIELDS)
                + ").",
                "text",
            )
        if name not in found:
            found.append(name)
    return tuple(found)


def check_text(text: object) -> tuple[str, ...]:
    """Check a draft text and return the personalisation fields it uses."""
    if not isinstance(text, str) or not text.strip():
        raise DomainError("empty_text", "The message text is empty.", "text")
    bad = _CONTROL_RE.search(text)
    if bad:
        raise DomainError("invalid_character", f"The text contains a control character {bad.group()!r}.", "text")
    return placeholders_in(text)


def _client_words(text: str) -> str:
    # The client's own words, each placeholder made opaque: no value counts as a mention or a name.
    return PLACEHOLDER_RE.sub(VALUE_MARK, text)


def check_short_code(short_code: object) -> str:
    """Return a valid 5-digit short code or raise DomainError."""
    if not isinstance(short_code, str) or not is_short_code(short_code):
        raise DomainError(
            "invalid_short_code", "A marketing SMS to France needs the account's 5-digit short code.", "short_code"
        )
    return normalise_short_code(short_code) or short_code


def check_sender(sender: object, *, kind: str, destination_is_french: bool, short_code: str | None = None) -> str:
    """Return the sender if it may carry this message, or raise DomainError naming the rule."""
    value = sender.strip() if isinstance(sender, str) else ""
    if not value:
        raise DomainError("sender_required", "A sender is required.", "sender")
    french_marketing = kind == "marketing" and destination_is_french
    # "36 111" or "06.12.34.56.78" is a number written for people: judge the digits.
    written = compact(value)
    digits = written.removeprefix("+")
    if digits.isdigit() and digits.isascii():
        value = written
    else:
        if not ALPHANUMERIC_SENDER_RE.fullmatch(value) or not any(c.isalpha() for c in value):
            raise DomainError(
                "invalid_sender", "An alphanumeric sender has 1 to 11 letters, digits or spaces.", "sender"
            )
        if french_marketing:
            raise DomainError(
                "alphanumeric_sender",
                "A marketing SMS to a French number cannot come from an alphanumeric sender: the recipient "
                "could not reply STOP. Use the account's short code.",
                "sender",
            )
        return value
    if len(digits) > MAX_NUMERIC_SENDER_DIGITS:
        raise DomainError("invalid_sender", "A numeric sender has at most 15 digits.", "sender")
    if not french_marketing:
        return value
    if is_ordinary_mobile_sender(value) or FRENCH_MOBILE_RE.fullmatch(value):
        raise DomainError(
            "mobile_number_sender",
            "Ordinary mobile numbers (06/07) may not send marketing SMS. Use the account's short code.",
            "sender",
        )
    if not is_short_code(value):
        raise DomainError(
            "short_code_required", "A marketing SMS to a French number must come from a 5-digit short code.", "sender"
        )
    short_range = short_code_range(value)
    if short_range == "transactional":
        raise DomainError(
            "transactional_short_code",
            "38xxx short codes are assigned to transactional traffic; marketing needs a 36xxx short code.",
            "sender",
        )
    if short_range != "marketing":
        raise DomainError(
            "not_marketing_short_code",
            f"{value} is not in the 36xxx range assigned to SMS marketing; marketing needs a 36xxx short code.",
            "sender",
        )
    if short_code is not None and value != short_code:
        # The STOP reply goes to the sender: it must be the number the mention names.
        raise DomainError(
            "sender_short_code_mismatch", f"The sender must be the account's short code {short_code}.", "sender"
        )
    return value


def _close_gap(match: re.Match[str]) -> str:
    # An empty value must not leave "Bonjour , ..." or a double space behind.
    text = match.string
    before = text[match.start() - 1] if match.start() > 0 else "\n"
    after = text[match.end()] if match.end() < len(text) else "\n"
    left, right = match.group(1), match.group(2)
    if before in "\r\n" or after in "\r\n" or after in ",.)…":
        return ""
    if after in "!?;:":
        # Keep the client's typography: French "Bonjour !" keeps its space, English "Hello!" does not.
        return " " if right else ""
    return " " if (left or right) else ""


def personalise(
    text: str, fields: Mapping[str, object] | None = None, *, defaults: Mapping[str, str] | None = None
) -> tuple[str, tuple[str, ...]]:
    """Return the text with placeholders replaced, and the fields that fell back to their default."""
    placeholders_in(text)
    values = {name: _tidy_value((fields or {}).get(name)) for name in PERSONALISATION_FIELDS}
    fallback = {**DEFAULT_FIELD_VALUES, **(defaults or {})}
    defaulted: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        value = values[name]
        if not value:
            if name not in defaulted:
                defaulted.append(name)
            value = _tidy_value(fallback.get(name))
        return value or _GAP

    filled = _LEADING_GAP_PUNCT_RE.sub(r"\1", PLACEHOLDER_RE.sub(substitute, text))
    return _GAP_RE.sub(_close_gap, filled), tuple(defaulted)


def compose(
    text: str,
    *,
    kind: str,
    advertiser_name: str | None,
    short_code: str | None,
    sender: str,
    destination_is_french: bool = True,
    fields: Mapping[str, object] | None = None,
    field_defaults: Mapping[str, str] | None = None,
    unsubscribe_url: str | None = None,
    account_mode: str = "marketing",
) -> ComposedText:
    """Return the final text the dispatcher will send, or raise DomainError naming the field."""
    if kind not in KINDS:
        raise DomainError("invalid_kind", "kind must be 'marketing' or 'informative'.", "kind")
    if account_mode not in ACCOUNT_MODES:
        raise DomainError("invalid_account_mode", "mode must be 'marketing' or 'notification'.", "mode")
    if kind == "marketing" and account_mode == "notification":
        raise DomainError(
            "marketing_not_allowed",
            "This account is in notification mode: it may only send informative messages.",
            "kind",
        )
    placeholders = check_text(text)
    marketing = kind == "marketing"
    if marketing and destination_is_french:
        short_code = check_short_code(short_code)
    check_sender(sender, kind=kind, destination_is_french=destination_is_french, short_code=short_code)

    advertiser = " ".join((advertiser_name or "").split())
    add_advertiser = add_mention = add_link = False
    if marketing:
        if not advertiser:
            raise DomainError(
                "advertiser_name_required", "A marketing SMS must name the advertiser.", "advertiser_name"
            )
        words = _client_words(text)
        add_advertiser = not names_advertiser(words, advertiser)
        if destination_is_french:
            assert short_code is not None  # checked above
            problem = stop_mention_problem(words, short_code)
            add_mention = problem is not None
            named = wrong_stop_number(words, short_code)
            if named is not None and named.endswith(VALUE_MARK):
                raise DomainError(
                    "stop_mention_wrong_number",
                    f"The number after STOP runs into a personalisation field: each recipient's value "
                    f"would change it. Put a space after {named.removesuffix(VALUE_MARK)}.",
                    "text",
                )
            if named is not None:
                raise DomainError(
                    "stop_mention_wrong_number",
                    f"The text tells recipients to reply STOP to {named}, which is not this account's "
                    f"short code {short_code}.",
                    "text",
                )
        else:
            if not unsubscribe_url or not unsubscribe_url.strip():
                raise DomainError(
                    "unsubscribe_url_required",
                    "A marketing SMS outside France needs an unsubscribe link.",
                    "unsubscribe_url",
                )
            add_link = unsubscribe_url.strip() not in text

    body, defaulted = personalise(text, fields, defaults=field_defaults)
    body = body.strip()
    if not body:
        raise DomainError("empty_text", "The message text is empty once personalised.", "text")
    if marketing and not add_advertiser and not names_advertiser(body, advertiser):
        add_advertiser = True  # a value glued to the name broke it (see the module docstring)
    final = ADVERTISER_PREFIX_TEMPLATE.format(name=advertiser, text=body) if add_advertiser else body
    if marketing and destination_is_french and not add_mention:
        assert short_code is not None
        add_mention = stop_mention_problem(final, short_code) is not None
    if add_mention:
        assert short_code is not None
        final = f"{final.rstrip()} {stop_mention(short_code)}"
    if add_link:
        assert unsubscribe_url is not None
        final = f"{final.rstrip()} {UNSUBSCRIBE_TEMPLATE.format(url=unsubscribe_url.strip())}"
    return ComposedText(
        text=final,
        body=body,
        advertiser_added=add_advertiser,
        mention_added=add_mention,
        unsubscribe_link_added=add_link,
        placeholders=placeholders,
        defaulted_fields=defaulted,
    )
