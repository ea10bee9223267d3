"""How long the service remembers who sent marketing to whom: the attribution window.

Rule (issue 4, SPEC.md rule 5): a STOP on a shared short code goes to the accounts that sent
a marketing SMS to that number from that code in the last 90 days. Beyond that window a send
no longer attributes anything, so it is forgotten (minimal data, GDPR art. 5(1)(c) and (e)):
the service keeps only (account, number, short code, last send time) and prunes it after 90
days. The window is measured back from when the STOP was *received*, so a STOP processed late
(a replay, a backlog) is attributed as it would have been on arrival.
"""

from __future__ import annotations

from datetime import datetime, timedelta

ATTRIBUTION_WINDOW = timedelta(days=90)


def attribution_window_start(received_at: datetime) -> datetime:
    """Return the earliest send time that still attributes a STOP received at `received_at`."""
    if received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    return received_at - ATTRIBUTION_WINDOW


def prune_before(now: datetime) -> datetime:
    """Return the send time before which remembered marketing sends can be forgotten."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now - ATTRIBUTION_WINDOW


def worth_remembering(*, sent_at: datetime, now: datetime) -> bool:
    """Tell whether a marketing send is recent enough to attribute a future STOP."""
    return sent_at >= prune_before(now)
