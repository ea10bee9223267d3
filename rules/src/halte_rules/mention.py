"""What a marketing SMS must say: the STOP mention and the advertiser's name, written and recognised.

Rule (docs/compliance-rules.md, "STOP mention and advertiser"): every marketing SMS to a French
number carries a free way to object, written ``STOP au <short code>``, and names the advertiser.
campaign-api adds what a client's text lacks and the dispatcher refuses a text that lacks it;
both read the text with the functions below, so a text the first approves is never refused by
the second, and nothing is added twice.

How a mention is recognised, case-insensitively:

- the word STOP (not glued to a letter or digit before it), optionally followed by "SMS",
  optionally by "au" or a colon, then the short code: "STOP au 36111", "Stop SMS au 36111",
  "STOP 36111", "STOP : 36111" all count;
- words are separated by any whitespace, non-breaking spaces included;
- the code may be written in groups, with one space (of any kind) or one dot between digits:
  "36 111", "36.111", "36\u00a0111";
- the code must not run on into another digit ("STOP au 361112" names another number).

A text may also name *another* number after STOP ("Répondez STOP au 36999", "STOP au 361112"):
the reply would not reach the platform, so :func:`stop_numbers_named` finds every number a STOP
instruction points to, with a looser grammar (linking words such as "au", "to", "numéro"), and a
text naming any number other than the short code is refused rather than completed: adding the
right mention beside a wrong one would leave the recipient two instructions, one of them false.
A number glued to a recipient's value ("STOP au 36111{last_name}") is refused the same way,
since the value could continue it.

The advertiser is named when its name appears as a whole word sequence, ignoring case, accents,
typographic apostrophes and runs of whitespace: "Cafe Dupont" names "Café Dupont".

Drafts with placeholders: a caller replaces each placeholder ("{first_name}") by
:data:`VALUE_MARK` before asking. The mark is neither a word character nor a space, so a
mention or a name never matches across a recipient's value, and a placeholder glued to a
mention's number ("STOP au 36111{first_name}") makes it a wrong number, since the value could
start with a digit.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Final, Literal

from halte_rules.short_codes import normalise_short_code

STOP_MENTION_TEMPLATE: Final = "STOP au {short_code}"
#: Stands for a recipient's value in a draft; a control character, so no client text contains it.
VALUE_MARK: Final = "\x01"

MentionProblem = Literal["missing_stop_mention", "stop_mention_wrong_number"]

_APOSTROPHES: Final = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'", "`": "'"})
# Between STOP and a number: a few linking words and punctuation. Each repetition consumes a
# word, so a long run of spaces cannot make the search backtrack exponentially.
_SEP: Final = r"[\s:.,\-=>]*"
_JOINERS: Final = rf"(?:{_SEP}(?:(?:sms|au|to|at|on|numero|num|no)\b|n°)){{0,4}}{_SEP}"
_STOP_NUMBER: Final = re.compile(rf"(?<![\w\x01])stop{_JOINERS}((?:\d[\s.]?){{4,}}\d)(?!\d)(\x01?)")


def fold(text: str) -> str:
    """Return the text as the rules compare it: accents dropped, case folded, apostrophes plain."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def stop_mention(short_code: str) -> str:
    """Return the mention the platform adds for a short code."""
    return STOP_MENTION_TEMPLATE.format(short_code=normalise_short_code(short_code) or short_code.strip())


def _code_pattern(digits: str) -> str:
    return r"[\s.]?".join(re.escape(digit) for digit in digits)


@functools.lru_cache(maxsize=1024)  # every recipient of a campaign asks about the same short code
def _mention_pattern(digits: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w\x01])stop(?:\s+sms)?(?:\s+au\s+|\s*:\s*|\s+){_code_pattern(digits)}(?![\d\x01])")


@functools.lru_cache(maxsize=1024)
def _own_code_at_start(digits: str) -> re.Pattern[str]:
    # The code, then the end of the number or a separator: "36111 2" is the code and a "2".
    return re.compile(rf"{_code_pattern(digits)}(?:[\s.]|$)")


def has_stop_mention(text: str, short_code: str) -> bool:
    """Tell whether the text carries the STOP mention of that short code."""
    digits = normalise_short_code(short_code)
    if not digits:
        return False
    return _mention_pattern(digits).search(fold(text)) is not None


def _named(match: re.Match[str]) -> str:
    return re.sub(r"[\s.]", "", match.group(1)) + match.group(2)


def stop_numbers_named(text: str) -> tuple[str, ...]:
    """Return every number a STOP instruction in the text points to, in text order.

    A number a recipient's value could continue (glued to :data:`VALUE_MARK`) keeps the mark
    at its end, so it never equals a short code.
    """
    return tuple(_named(match) for match in _STOP_NUMBER.finditer(fold(text)))


def wrong_stop_number(text: str, short_code: str) -> str | None:
    """Return the first number a STOP instruction points to that is not the short code, or None."""
    own = _own_code_at_start(normalise_short_code(short_code) or "")
    for match in _STOP_NUMBER.finditer(fold(text)):
        written, glued = match.group(1), match.group(2)
        reads_as_code = own.match(written)
        if reads_as_code is None or (glued and reads_as_code.end() == len(written)):
            return _named(match)
    return None


def stop_mention_problem(text: str, short_code: str) -> MentionProblem | None:
    """Return why a text's STOP mention does not reach that short code, or None if it does."""
    if wrong_stop_number(text, short_code) is not None:
        return "stop_mention_wrong_number"
    if not has_stop_mention(text, short_code):
        return "missing_stop_mention"
    return None


def names_advertiser(text: str, advertiser_name: str | None) -> bool:
    """Tell whether the text names the advertiser as a whole word sequence."""
    words = fold(advertiser_name or "").split()
    if not words:
        return False
    pattern = r"(?<![\w\x01])" + r"\s+".join(re.escape(word) for word in words) + r"(?![\w\x01])"
    return re.search(pattern, fold(text)) is not None
