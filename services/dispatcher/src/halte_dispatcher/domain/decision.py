"""The dispatcher's answer for one message: send, hold or refuse, with a machine reason.

Source: SPEC.md ("turns launched campaigns into per-recipient decisions: ... emits to carrier
adapters or holds, or refuses with a reason") and CONTRACT.md (`POST /v1/policy/evaluate` answers
`{decision, reason, next_window_start?}`). A *hold* is not final: the message is evaluated again
when it is released (at `next_window_start` when one is known, or when the blocklist feed catches
up), because a rule may have changed meanwhile (an opt-out, an expired consent). *send* and
*refuse* are final.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from halte_rules.consent import NO_CONSENT as NO_CONSENT
from halte_rules.consent import REFUSAL_REASONS as CONSENT_REFUSALS
from halte_rules.hours import OUTSIDE_HOURS, PUBLIC_HOLIDAY, SUNDAY

DecisionKind = Literal["send", "hold", "refuse"]

# Reasons, one constant each so that callers and tests never spell them twice.
OK = "ok"
INVALID_NUMBER = "invalid_number"
NOT_MOBILE = "not_mobile"
MARKETING_NOT_ALLOWED = "marketing_not_allowed"
SUPPRESSED = "suppressed"
SUPPRESSION_FEED_STALE = "suppression_feed_stale"
# An opt-out acknowledged on a shared short code that suppression has not attributed yet.
OPTOUT_PENDING = "optout_pending"
# The consent rule's refusals (NO_CONSENT, customer_consent_expired, ...) are halte_rules.consent's.
ALPHANUMERIC_SENDER = "alphanumeric_sender"
MOBILE_NUMBER_SENDER = "mobile_number_sender"
NOT_SHORT_CODE_SENDER = "not_short_code_sender"
UNKNOWN_SHORT_CODE = "unknown_short_code"
TRANSACTIONAL_SHORT_CODE = "transactional_short_code"
NOT_MARKETING_SHORT_CODE = "not_marketing_short_code"
STOP_MENTION_WRONG_NUMBER = "stop_mention_wrong_number"
# An informative message whose text is promotional (halte_rules.promotional).
PROMOTIONAL_CONTENT = "promotional_content"
MISSING_STOP_MENTION = "missing_stop_mention"
MISSING_ADVERTISER_NAME = "missing_advertiser_name"
MISSING_UNSUBSCRIBE_LINK = "missing_unsubscribe_link"
INSUFFICIENT_CREDITS = "insufficient_credits"
INVALID_HOURS_WINDOW = "invalid_hours_window"
SCHEDULED = "scheduled"
# Set by the dispatcher around the policy, never by evaluate(): a marketing request whose account
# the dispatcher has not heard of yet waits for it (the content rule needs the advertiser's name
# and short codes), and a message the carrier refused for good ends refused.
ACCOUNT_UNKNOWN = "account_unknown"
CARRIER_REJECTED = "carrier_rejected"

REFUSE_REASONS = frozenset(
    {
        INVALID_NUMBER,
        NOT_MOBILE,
        MARKETING_NOT_ALLOWED,
        SUPPRESSED,
        *CONSENT_REFUSALS,
        ALPHANUMERIC_SENDER,
        MOBILE_NUMBER_SENDER,
        NOT_SHORT_CODE_SENDER,
        UNKNOWN_SHORT_CODE,
        TRANSACTIONAL_SHORT_CODE,
        NOT_MARKETING_SHORT_CODE,
        STOP_MENTION_WRONG_NUMBER,
        PROMOTIONAL_CONTENT,
        MISSING_STOP_MENTION,
        MISSING_ADVERTISER_NAME,
        MISSING_UNSUBSCRIBE_LINK,
        INSUFFICIENT_CREDITS,
        INVALID_HOURS_WINDOW,
        CARRIER_REJECTED,
    }
)
HOLD_REASONS = frozenset(
    {SUPPRESSION_FEED_STALE, OPTOUT_PENDING, OUTSIDE_HOURS, SUNDAY, PUBLIC_HOLIDAY, SCHEDULED, ACCOUNT_UNKNOWN}
)
SEND_REASONS = frozenset({OK})


@dataclass(frozen=True, slots=True)
class Decision:
    """One policy decision: what to do, why, and when a held message may go."""

    decision: DecisionKind
    reason: str
    next_window_start: datetime | None = None

    def __post_init__(self) -> None:
        known = {"send": SEND_REASONS, "hold": HOLD_REASONS, "refuse": REFUSE_REASONS}.get(self.decision)
        if known is None:
            raise ValueError(f"decision must be send, hold or refuse, not {self.decision!r}")
        if self.reason not in known:
            raise ValueError(f"{self.reason!r} is not a reason for {self.decision!r}")
        if self.next_window_start is not None:
            # Only a hold has a release time; an offset-less time would be read in the
            # server's zone, which is exactly the mistake the hours rule forbids.
            if self.decision != "hold":
                raise ValueError("only a hold carries next_window_start")
            if self.next_window_start.utcoffset() is None:
                raise ValueError("next_window_start must be timezone-aware")

    @property
    def is_final(self) -> bool:
        """Tell whether the decision ends the message's life (a hold is evaluated again)."""
        return self.decision != "hold"

    @classmethod
    def send(cls) -> Decision:
        """Return the decision to hand the message to a carrier now."""
        return cls("send", OK)

    @classmethod
    def hold(cls, reason: str, until: datetime | None = None) -> Decision:
        """Return the decision to keep the message and evaluate it again later."""
        return cls("hold", reason, until)

    @classmethod
    def refuse(cls, reason: str) -> Decision:
        """Return the decision to never send the message."""
        return cls("refuse", reason)

    def as_dict(self) -> dict[str, str | None]:
        """Return the JSON shape of CONTRACT.md's policy answer."""
        return {
            "decision": self.decision,
            "reason": self.reason,
            "next_window_start": self.next_window_start.isoformat() if self.next_window_start else None,
        }
