"""The blocklist rule: no marketing SMS to a number that opted out, and none on a view not proven current.

Rules (SPEC.md rules 5 and 8, and the "fail closed" non-negotiable): a number that replied STOP
(or unsubscribed through the web page, the API, or was reported to 33700) for an account gets no
further marketing SMS from that account, from any campaign. Informative messages are not
blocked: the confirmation of the opt-out itself must reach the number that is now suppressed.

The dispatcher's view has two parts (docs/stop-enforcement.md):

- the *blocklist*, a copy of the suppression service's authoritative list (account, number);
- *pending opt-outs*: requests acknowledged to a carrier (read from inbound's journal) or
  announced by suppression as not applicable yet, that suppression has not resolved. Such a
  request blocks its number for the account it names, and for every account on the short
  code it was sent to (fail-safe: suppression may attribute it to any of them). Where the
  outcome is certain (the request names the account, or the short code is the account's own
  and no other known account shares it) the message is refused ``suppressed`` at once; on a
  shared short code it is held ``optout_pending`` until suppression attributes the request.

If the dispatcher cannot show its view current (every opt-out acknowledged up to ``now - bound``
applied), a marketing SMS is *held* with ``suppression_feed_stale`` rather than risk one reaching
an opted-out number; informative messages go on. A known suppression is refused even on a stale
view: a stale view can miss an opt-out, and the rare re-subscription it could miss is recorded as
a new consent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from halte_dispatcher.domain.decision import OPTOUT_PENDING, SUPPRESSED, SUPPRESSION_FEED_STALE, Decision

#: The largest age of the last "caught up" confirmation at which the local copy counts as current.
DEFAULT_MAX_LAG = timedelta(seconds=30)

Block = Literal["suppressed", "pending"]


@dataclass(frozen=True, slots=True)
class PendingOptout:
    """An opt-out request known to the dispatcher that suppression has not resolved yet."""

    request_id: str
    phone: str
    short_code: str | None
    account_id: str | None
    #: How many known accounts have `short_code` among theirs (0 when none or no short code).
    accounts_on_short_code: int = 0


def is_feed_current(
    *,
    confirmed_at: datetime | None,
    now: datetime,
    max_lag: timedelta = DEFAULT_MAX_LAG,
    pending_events: int = 0,
) -> bool:
    """Tell whether a source provably reflects every opt-out recorded up to ``now - max_lag``."""
    if now.utcoffset() is None or (confirmed_at is not None and confirmed_at.utcoffset() is None):
        raise ValueError("suppression feed times must be timezone-aware")
    if confirmed_at is None or pending_events > 0:
        # Never confirmed, or opt-outs known to be waiting: nothing proves the copy current.
        return False
    # A confirmation from the future (clock skew) counts as lag zero, not as negative lag.
    return now - confirmed_at <= max_lag


def pending_block(
    *,
    account_id: str,
    account_short_codes: Iterable[str],
    sender: str | None,
    pending: Iterable[PendingOptout],
) -> Block | None:
    """Return how the pending opt-outs of a number block a marketing message of an account, if they do."""
    own_codes = set(account_short_codes)
    verdict: Block | None = None
    for optout in pending:
        if optout.account_id is not None and optout.account_id == account_id:
            return "suppressed"
        code = optout.short_code
        if code is None or (code not in own_codes and code != sender):
            continue
        if code in own_codes and optout.accounts_on_short_code <= 1:
            return "suppressed"
        verdict = "pending"
    return verdict


def suppression_check(
    *, kind: str, suppressed: bool, feed_current: bool, optout_pending: bool = False
) -> Decision | None:
    """Return the refusal or hold the blocklist imposes on a message, or None if it may go on."""
    if kind != "marketing":
        return None
    if suppressed:
        return Decision.refuse(SUPPRESSED)
    if optout_pending:
        # Released when suppression attributes the request: refused then if it names this account.
        return Decision.hold(OPTOUT_PENDING)
    if not feed_current:
        # Released when the feed catches up, not at a known instant: no next_window_start.
        return Decision.hold(SUPPRESSION_FEED_STALE)
    return None


def blocks_by_pair(
    pairs: Iterable[tuple[str, str, str | None]],
    *,
    suppressed: set[tuple[str, str]],
    pending: Mapping[str, list[PendingOptout]],
    short_codes: Mapping[str, tuple[str, ...]],
) -> dict[tuple[str, str], Block]:
    """Return, per (account, number) of the (account, number, sender) triples, the block that applies."""
    blocks: dict[tuple[str, str], Block] = {}
    for account_id, phone, sender in pairs:
        key = (account_id, phone)
        if key in suppressed:
            blocks[key] = "suppressed"
            continue
        found = pending_block(
            account_id=account_id,
            account_short_codes=short_codes.get(account_id, ()),
            sender=sender,
            pending=pending.get(phone, ()),
        )
        if found is not None and blocks.get(key) != "suppressed":
            blocks[key] = found
    return blocks
