"""The blocklist rule: no marketing SMS to a number that opted out, and none on a stale view.

Rules (SPEC.md rules 5 and 8, and the "fail closed" non-negotiable): a number that replied STOP
(or unsubscribed through the web page, the API, or was reported to 33700) for an account gets no
further marketing SMS from that account, from any campaign. Informative messages are not
blocked: the confirmation of the opt-out itself must reach the number that is now suppressed.

The dispatcher reads a local copy of the suppression service's blocklist, fed by
``optout.recorded`` events. If it cannot show that copy is current (the last confirmation that it
was caught up is older than the allowed lag, or events are known to be waiting), a marketing SMS
is *held* with ``suppression_feed_stale`` rather than risk one reaching an opted-out number;
informative messages go on. A known suppression is refused even on a stale copy: a stale view
can miss an opt-out, and the rare re-subscription it could miss is recorded as a new consent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from halte_dispatcher.domain.decision import SUPPRESSED, SUPPRESSION_FEED_STALE, Decision

#: The largest age of the last "caught up" confirmation at which the local copy counts as current.
DEFAULT_MAX_LAG = timedelta(seconds=30)


def is_feed_current(
    *,
    confirmed_at: datetime | None,
    now: datetime,
    max_lag: timedelta = DEFAULT_MAX_LAG,
    pending_events: int = 0,
) -> bool:
    """Tell whether the local blocklist provably reflects every opt-out recorded up to ``now - max_lag``."""
    if now.utcoffset() is None or (confirmed_at is not None and confirmed_at.utcoffset() is None):
        raise ValueError("suppression feed times must be timezone-aware")
    if confirmed_at is None or pending_events > 0:
        # Never confirmed, or opt-outs known to be waiting: nothing proves the copy current.
        return False
    # A confirmation from the future (clock skew) counts as lag zero, not as negative lag.
    return now - confirmed_at <= max_lag


def suppression_check(*, kind: str, suppressed: bool, feed_current: bool) -> Decision | None:
    """Return the refusal or hold the blocklist imposes on a message, or None if it may go on."""
    if kind != "marketing":
        return None
    if suppressed:
        return Decision.refuse(SUPPRESSED)
    if not feed_current:
        # Released when the feed catches up, not at a known instant: no next_window_start.
        return Decision.hold(SUPPRESSION_FEED_STALE)
    return None
