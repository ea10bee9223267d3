"""The sizes the service accepts: large enough for a campaign's audience, bounded for safety."""

from __future__ import annotations

#: Numbers one bulk check may carry (issue 4: "up to 10,000 numbers in one call").
MAX_BULK_CHECK = 10_000
#: Changes one page of the change feed may carry.
MAX_FEED_PAGE = 10_000
#: The longest a feed reader may ask to wait for the next change.
MAX_FEED_WAIT_SECONDS = 10.0
#: Suppressions one page of the list may carry.
MAX_LIST_PAGE = 1_000
#: Raw text kept as evidence: ten concatenated SMS segments is far more than any STOP reply.
MAX_RAW_TEXT = 1_600
#: A consent proof: a sentence or a reference to the account's own records, not a document.
MAX_PROOF = 4_000
#: A number as written by a client: anything longer cannot be a phone number.
MAX_PHONE_TEXT = 64


#: The largest sequence number PostgreSQL's bigint holds.
MAX_SEQUENCE = 2**63 - 1


def clip(text: str | None, limit: int) -> str | None:
    """Return text storable as evidence: cut to `limit` characters, NUL and lone surrogates replaced.

    Evidence from the bus is kept, not refused; PostgreSQL text cannot hold NUL and UTF-8
    cannot carry a lone surrogate (JSON can), so those become U+FFFD, visibly.
    """
    if text is None:
        return None
    text = text[:limit]
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)
    return text
