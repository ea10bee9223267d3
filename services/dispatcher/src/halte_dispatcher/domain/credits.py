"""The credit rule: a message goes out only when credits cover it.

Source: SPEC.md ("preview ... cost", "credit ledger") and the ``credits_reserved`` field of the
``dispatch.requested`` event (CONTRACT.md topics). campaign-api reserves the credits of a campaign
or unit send when it is launched; the dispatcher refuses ``insufficient_credits`` for a request
those reserved credits do not cover, so an account never sends more than it paid for. The
reservation is either a yes/no from campaign-api, or a number of credits compared with the
message's cost (one credit per segment by default).
"""

from __future__ import annotations

from halte_dispatcher.domain.decision import INSUFFICIENT_CREDITS


def credits_problem(*, reserved: bool | int, cost: int = 1) -> str | None:
    """Return ``insufficient_credits`` unless the reserved credits cover the cost, else None."""
    if cost < 0:
        raise ValueError("a message cannot cost a negative number of credits")
    # bool is a subclass of int: a yes/no reservation must not be read as 0 or 1 credit.
    covered = reserved if isinstance(reserved, bool) else reserved >= cost
    return None if covered else INSUFFICIENT_CREDITS
