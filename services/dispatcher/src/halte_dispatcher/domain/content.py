"""What a marketing SMS must say and where it must come from: STOP mention, advertiser, sender.

Rules (SPEC.md rules 2 and 3, from reference/001-004):

- Every marketing SMS names the advertiser (``missing_advertiser_name``).
- To a French number (metropolis and overseas, ``PhoneInfo.is_french``) it carries
  ``STOP au <short code>`` (``missing_stop_mention``), and comes from a numeric 5-digit short
  code that receives the STOP reply: an alphanumeric sender makes the reply impossible
  (``alphanumeric_sender``), an ordinary mobile number may not carry marketing
  (``mobile_number_sender``), any other number is no short code (``not_short_code_sender``).
  When the account's short codes are known, the sender must be one of them
  (``unknown_short_code``), since only those are routed back to the platform. The 38xxx range is
  assigned to transactional traffic, so marketing from it is refused
  (``transactional_short_code``).
- To a number outside France, the platform's unsubscribe link takes the place of the STOP reply:
  the text must contain the link (``missing_unsubscribe_link``); the sender is free there.
- Informative SMS need none of this; an account in "notification" mode sends only those (the
  composition in policy.py refuses its marketing).

How the mention is recognised (a decision, documented here): case-insensitive; ``STOP`` as a
word, optionally followed by ``SMS``, then ``au``, then the short code the message is sent from.
Any whitespace (including non-breaking spaces) separates the words, and the code may be written
in groups separated by one space or dot ("Stop au 36 111"). "STOP 36111" without "au" is not
the mandated wording and is refused; a mention naming another code than the sender is refused
too, because the reply would not reach the platform.

The advertiser is named when its name appears as a whole word sequence, ignoring case and runs
of whitespace.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

from halte_dispatcher.domain.decision import (
    ALPHANUMERIC_SENDER,
    MISSING_ADVERTISER_NAME,
    MISSING_STOP_MENTION,
    MISSING_UNSUBSCRIBE_LINK,
    MOBILE_NUMBER_SENDER,
    NOT_SHORT_CODE_SENDER,
    TRANSACTIONAL_SHORT_CODE,
    UNKNOWN_SHORT_CODE,
)
from halte_shared.phone import is_ordinary_mobile_sender

SHORT_CODE_LENGTH = 5
#: Short-code ranges not assigned to SMS marketing (SPEC.md rule 3: 38xxx is transactional).
TRANSACTIONAL_PREFIXES = ("38",)
_SEPARATORS = re.compile(r"[\s.\-()]")
_FRENCH_MOBILE_SHAPE = re.compile(r"(?:\+33|0033|0)[67]\d{8}")


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def clean_sender(sender: str) -> str:
    """Return the sender without the spaces, dots, dashes and brackets people write in numbers."""
    return _SEPARATORS.sub("", sender.strip())


def is_short_code(sender: str) -> bool:
    """Tell whether a sender is a 5-digit numeric short code."""
    cleaned = clean_sender(sender)
    return len(cleaned) == SHORT_CODE_LENGTH and cleaned.isascii() and cleaned.isdigit()


def sender_problem(sender: str, *, short_codes: Iterable[str] = ()) -> str | None:
    """Return why a sender may not carry marketing to a French number, or None if it may."""
    cleaned = clean_sender(sender)
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
    known = {clean_sender(code) for code in short_codes}
    if known and cleaned not in known:
        return UNKNOWN_SHORT_CODE
    if cleaned.startswith(TRANSACTIONAL_PREFIXES):
        return TRANSACTIONAL_SHORT_CODE
    return None


@functools.lru_cache(maxsize=1024)  # every recipient of a campaign checks the same short code
def _stop_pattern(short_code: str) -> re.Pattern[str]:
    digits = clean_sender(short_code)
    # One optional space or dot between digits: "36111", "36 111", "36.111".
    code = r"[\s.]?".join(re.escape(digit) for digit in digits)
    return re.compile(rf"(?<!\w)stop(?:\s+sms)?\s+au\s+{code}(?!\d)", re.IGNORECASE)


def has_stop_mention(text: str, *, short_code: str) -> bool:
    """Tell whether the text carries ``STOP au <short_code>``."""
    return bool(_stop_pattern(short_code).search(unicodedata.normalize("NFC", text)))


def names_advertiser(text: str, *, advertiser_name: str | None) -> bool:
    """Tell whether the text names the advertiser as a whole word sequence."""
    words = _normalise(advertiser_name or "").split()
    if not words:
        return False
    pattern = r"\s+".join(re.escape(word) for word in words)
    return bool(re.search(rf"(?<!\w){pattern}(?!\w)", _normalise(text)))


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
        if not any(has_stop_mention(text, short_code=code) for code in codes):
            return MISSING_STOP_MENTION
    elif not has_unsubscribe_link(text, unsubscribe_url=unsubscribe_url):
        return MISSING_UNSUBSCRIBE_LINK
    if not names_advertiser(text, advertiser_name=advertiser_name):
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
