"""What a marketing SMS must say and where it must come from: STOP mention, advertiser, sender.

Rules (docs/compliance-rules.md; the recognisers and ranges are halte_rules', shared with
campaign-api so that the two never disagree):

- Every marketing SMS names the advertiser (``missing_advertiser_name``).
- To a French number (metropolis and overseas, ``PhoneInfo.is_french``) it carries the STOP
  mention of the code it is sent from (``missing_stop_mention``; a STOP instruction naming
  another number is ``stop_mention_wrong_number``), and comes from a 5-digit short code of the
  marketing range that receives the STOP reply: an alphanumeric sender makes the reply
  impossible (``alphanumeric_sender``), an ordinary mobile number may not carry marketing
  (``mobile_number_sender``), any other number is no short code (``not_short_code_sender``).
  When the account's short codes are known, the sender must be one of them
  (``unknown_short_code``), since only those are routed back to the platform. 38xxx is
  assigned to transactional traffic (``transactional_short_code``) and any other range than
  36xxx is not assigned to marketing (``not_marketing_short_code``).
- To a number outside France, the platform's unsubscribe link takes the place of the STOP reply:
  the text must contain the link (``missing_unsubscribe_link``); the sender is free there.
- Informative SMS need none of this, but they must be informative (``promotional_content``,
  decided in policy.py); an account in "notification" mode sends only those.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from halte_dispatcher.domain.decision import (
    ALPHANUMERIC_SENDER,
    MISSING_ADVERTISER_NAME,
    MISSING_STOP_MENTION,
    MISSING_UNSUBSCRIBE_LINK,
    MOBILE_NUMBER_SENDER,
    NOT_MARKETING_SHORT_CODE,
    NOT_SHORT_CODE_SENDER,
    STOP_MENTION_WRONG_NUMBER,
    TRANSACTIONAL_SHORT_CODE,
    UNKNOWN_SHORT_CODE,
)
from halte_rules.mention import names_advertiser, stop_mention_problem
from halte_rules.short_codes import compact, is_short_code, normalise_short_code, short_code_range
from halte_shared.phone import is_ordinary_mobile_sender

_FRENCH_MOBILE_SHAPE = re.compile(r"(?:\+33|0033|0)[67]\d{8}")
_RANGE_PROBLEMS = {"transactional": TRANSACTIONAL_SHORT_CODE, "other": NOT_MARKETING_SHORT_CODE}
_MENTION_PROBLEMS = {
    "missing_stop_mention": MISSING_STOP_MENTION,
    "stop_mention_wrong_number": STOP_MENTION_WRONG_NUMBER,
}


def sender_problem(sender: str, *, short_codes: Iterable[str] = ()) -> str | None:
    """Return why a sender may not carry marketing to a French number, or None if it may."""
    cleaned = compact(sender)
    if not cleaned:
        return NOT_SHORT_CODE_SENDER
    digits = cleaned.removeprefix("+")
    if not (digits.isascii() and digits.isdigit()):
        return ALPHANUMERIC_SENDER
    if is_ordinary_mobile_sender(cleaned) or _FRENCH_MOBILE_SHAPE.fullmatch(cleaned):
        # The shape check also catches 06/07 numbers phonenumbers does not know as allocated.
        return MOBILE_NUMBER_SENDER
    if not is_short_code(cleaned):
        return NOT_SHORT_CODE_SENDER
    known = {normalise_short_code(code) for code in short_codes}
    if known and digits not in known:
        return UNKNOWN_SHORT_CODE
    return _RANGE_PROBLEMS.get(short_code_range(digits))


def has_unsubscribe_link(text: str, *, unsubscribe_url: str | None) -> bool:
    """Tell whether the text contains the platform's unsubscribe link."""
    if not unsubscribe_url or not unsubscribe_url.strip():
        return False
    return unsubscribe_url.strip() in text


def text_problem(
    text: str,
    *,
    advertiser_name: str | None,
    french_destination: bool,
    sender: str | None,
    short_codes: Iterable[str] = (),
    unsubscribe_url: str | None = None,
) -> str | None:
    """Return why a marketing text is not lawful as written, or None if it is."""
    if french_destination:
        # The mention must name the code the reply goes to: the sender, or (sender unknown,
        # e.g. a preview) one of the account's short codes.
        codes = [sender] if sender else list(short_codes)
        problems = [stop_mention_problem(text, code) for code in codes]
        if None not in problems:
            return _MENTION_PROBLEMS[problems[0]] if problems and problems[0] else MISSING_STOP_MENTION
    elif not has_unsubscribe_link(text, unsubscribe_url=unsubscribe_url):
        return MISSING_UNSUBSCRIBE_LINK
    if not names_advertiser(text, advertiser_name):
        return MISSING_ADVERTISER_NAME
    return None


def content_problem(
    *,
    text: str,
    sender: str,
    advertiser_name: str | None,
    french_destination: bool,
    short_codes: Iterable[str] = (),
    unsubscribe_url: str | None = None,
) -> str | None:
    """Return why a marketing SMS's sender or text is not lawful, or None if both are."""
    short_codes = tuple(short_codes)
    if french_destination:
        problem = sender_problem(sender, short_codes=short_codes)
        if problem is not None:
            return problem
    return text_problem(
        text,
        advertiser_name=advertiser_name,
        french_destination=french_destination,
        sender=sender,
        short_codes=short_codes,
        unsubscribe_url=unsubscribe_url,
    )
