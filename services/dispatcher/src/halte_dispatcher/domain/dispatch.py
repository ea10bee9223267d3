"""One recipient request, with what the dispatcher knows of its account, turned into a decision.

Sources: SPEC.md (the dispatcher "consults the blocklist, consent, the time-window policy and
content rules") and the ``account.changed`` / ``dispatch.requested`` contracts. This module
only adds to :func:`~halte_dispatcher.domain.policy.evaluate` what the dispatcher's own view
brings:

- The account's latest ``account.changed`` (advertiser name, short codes, mode, hours profile
  and window, non-commercial flag) overrides what the request carried: an operator who tightens
  a profile, switches an account to "notification" mode or lifts its non-commercial flag applies
  to messages already queued or held.
- A *marketing* request for an account the dispatcher has not heard of yet cannot be checked
  (the content rule needs the advertiser's name and short codes): it is held with
  ``account_unknown`` and evaluated again once the account is known. Events of two topics
  arrive in any order, so this is never an error. Informative requests need nothing from the
  account and go on.
- A ``send`` of a marketing SMS carries a deadline (:func:`dispatch_deadline`): a carrier
  backlog must not push it past the window's last dispatch minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from halte_dispatcher.domain.decision import ACCOUNT_UNKNOWN, Decision
from halte_dispatcher.domain.policy import AccountMode, PolicyInput, dispatch_deadline, evaluate


@dataclass(frozen=True, slots=True)
class AccountView:
    """What the dispatcher knows of an account from its last ``account.changed``."""

    account_id: str
    name: str
    mode: str
    short_codes: tuple[str, ...]
    hours_profile: str
    window_start: str | None = None
    window_end: str | None = None
    active: bool = True
    non_commercial: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """A decision for one request, and for a send the instant it must have left by."""

    decision: Decision
    send_by: datetime | None = None


def policy_input(
    request: Any, account: AccountView | None, *, suppressed: bool, feed_current: bool, optout_pending: bool = False
) -> PolicyInput:
    """Return the policy input of a ``dispatch.requested`` payload under the account's current settings."""
    if account is None:
        return PolicyInput.from_dispatch(
            request,
            advertiser_name=None,
            short_codes=(),
            suppressed=suppressed,
            suppression_current=feed_current,
            optout_pending=optout_pending,
        )
    # An account mode this build does not know is treated as the narrower one.
    mode: AccountMode = "marketing" if account.mode == "marketing" else "notification"
    # Built in one call (not from_dispatch then replace): this runs for every recipient.
    return PolicyInput(
        phone=request.phone,
        kind=request.kind,
        account_id=request.account_id,
        account_mode=mode,
        sender=request.sender,
        text=request.text,
        advertiser_name=account.name,
        short_codes=account.short_codes,
        unsubscribe_url=request.unsubscribe_url,
        consent=request.consent,
        category=request.category,
        professions=request.professions,
        account_non_commercial=account.non_commercial,
        postal_code=request.postal_code,
        hours_profile=account.hours_profile,
        window_start=account.window_start,
        window_end=account.window_end,
        credits_reserved=request.credits_reserved,
        cost=request.segments,
        suppressed=suppressed,
        suppression_current=feed_current,
        optout_pending=optout_pending,
        send_at=request.send_at,
    )


def decide(
    request: Any,
    account: AccountView | None,
    *,
    suppressed: bool,
    feed_current: bool,
    now: datetime,
    optout_pending: bool = False,
) -> Outcome:
    """Return the decision for a request at ``now``, holding marketing whose account is unknown."""
    if request.kind == "marketing" and account is None:
        return Outcome(Decision.hold(ACCOUNT_UNKNOWN))
    policy = policy_input(
        request, account, suppressed=suppressed, feed_current=feed_current, optout_pending=optout_pending
    )
    decision = evaluate(policy, now=now)
    if decision.decision != "send":
        return Outcome(decision)
    return Outcome(decision, dispatch_deadline(policy, now=now))
