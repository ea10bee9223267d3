"""When a suppression may be lifted: only by a new, explicit, provable consent.

Rule (SPEC.md rules 1, 5 and 7; issue 4):
- An account lifts its own suppression of a number only by recording the person's new
  explicit consent, with its proof (where, when, the wording the person accepted). Without
  a proof, nothing is lifted. A contact import never lifts anything (it is not consent).
- A START or UNSTOP reply to a short code re-subscribes the number only where the account
  allows it (`allow_resubscribe`, default off), and the raw message is the proof.
- The reply answers the STOP sent to that same short code: it lifts an account's
  suppression when that suppression came from an SMS STOP to this short code, or when the
  code is dedicated to the account. On a shared short code it never lifts the suppression
  of an account the person did not unsubscribe from through that code: lifting is the
  dangerous direction, so an ambiguous reply lifts less, never more.
- Nothing to lift (the number is not suppressed) is no consent event for this service.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

PROOF_MISSING = "proof_missing"
NOT_ALLOWED = "resubscribe_not_allowed"
NOT_SUPPRESSED = "not_suppressed"


@dataclass(frozen=True, slots=True)
class ActiveSuppression:
    """How an account's suppression of one number came about."""

    account_id: str
    channel: str
    short_code: str | None


@dataclass(frozen=True, slots=True)
class Resubscription:
    """The accounts whose suppression is lifted, and those refused with the reason."""

    lift: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]


def has_proof(proof: str | None) -> bool:
    """Tell whether a consent proof says anything at all."""
    return bool(proof and proof.strip())


def decide_account_consent(
    *, account_id: str, proof: str | None, active: Mapping[str, ActiveSuppression]
) -> Resubscription:
    """Decide a consent the account itself recorded (API channel)."""
    if not has_proof(proof):
        return Resubscription((), ((account_id, PROOF_MISSING),))
    if account_id not in active:
        return Resubscription((), ((account_id, NOT_SUPPRESSED),))
    return Resubscription((account_id,), ())


def decide_start_reply(
    *,
    short_code: str | None,
    raw_text: str | None,
    account_id: str | None,
    accounts_on_code: Collection[str],
    active: Mapping[str, ActiveSuppression],
    allows_resubscribe: Mapping[str, bool],
) -> Resubscription:
    """Decide a START/UNSTOP reply received on a short code (SMS channel)."""
    owners = set(accounts_on_code)
    candidates = {
        a for a, s in active.items() if s.channel == "sms" and short_code is not None and s.short_code == short_code
    }
    if len(owners) == 1 and (owner := next(iter(owners))) in active:
        candidates.add(owner)
    if account_id is not None:
        candidates &= {account_id}
    if not candidates:
        return Resubscription((), ())
    if not has_proof(raw_text):
        return Resubscription((), tuple((a, PROOF_MISSING) for a in sorted(candidates)))
    lift = tuple(a for a in sorted(candidates) if allows_resubscribe.get(a, False))
    refused = tuple((a, NOT_ALLOWED) for a in sorted(candidates) if not allows_resubscribe.get(a, False))
    return Resubscription(lift, refused)
