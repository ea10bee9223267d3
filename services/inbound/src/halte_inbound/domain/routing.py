"""What a reply to a short code sets in motion: who sent it, which accounts it concerns, which events follow.

Rules (SPEC.md rules 5, 6 and the inbound issue):

* **Sender.** Carriers write the sender in their own way: E.164 ("+33612345678"),
  international without the plus ("33612345678", SMPP TON international), or national
  format ("0612345678") that only the carrier's country explains. The carrier registry
  gives each carrier a default region; a number that still does not parse is kept as
  written and the reply is *unroutable* (``invalid_sender``): recorded, never published
  as an opt-out, since an opt-out needs a number to suppress.
* **Short code.** A carrier may be configured to serve only some short codes; a reply to
  another one is ``short_code_not_served``. A short code that no active account uses (as
  far as the account events told us) is ``unknown_short_code``. Both are recorded,
  counted and logged; neither is dropped.
* **STOP is never lost.** A STOP with a usable sender always yields one
  ``optout.requested`` (channel ``sms``, the short code, no account: the suppression
  service attributes it), even to an unknown short code: our view of the accounts comes
  from events and may lag behind a just-created account, and a STOP that reaches nobody
  breaks the law while a STOP nobody claims costs nothing.
* **START/UNSTOP** re-subscribes only where the account allows it (SPEC rule 5): one
  ``optin.requested`` per active account on the short code with ``allow_resubscribe``;
  none when no such account exists or the short code is not one the carrier serves (the
  reply is still recorded as ``optin``).
* **CONTACT** (SPEC rule 6) asks who is writing. A short code may be shared by several
  accounts and the reply does not say which one it answers, so every active account on
  the short code gets a ``contact.requested``: the recipient learns every advertiser
  behind the number, which is what the request asks. An unknown short code has no
  advertiser to name, so no request is made (the reply stays recorded).
* **HELP** and other replies only produce ``inbound.received``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from halte_inbound.domain.keywords import Classification, classify
from halte_rules.short_codes import normalise_short_code as normalise_written_code
from halte_shared.phone import InvalidPhoneNumber, normalize

UnroutableReason = Literal["invalid_sender", "short_code_not_served", "unknown_short_code"]

_E164: Final = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True, slots=True)
class AccountRoute:
    """What inbound knows of one account (from ``account.changed``)."""

    account_id: str
    short_codes: tuple[str, ...]
    allow_resubscribe: bool = False
    active: bool = True


@dataclass(frozen=True, slots=True)
class ReplyPlan:
    """The decision taken on one reply: its class, its sender, and the events it produces."""

    classification: Classification
    phone: str | None
    short_code: str
    account_ids: tuple[str, ...]
    unroutable: UnroutableReason | None
    optout: bool
    optin_account_ids: tuple[str, ...] = field(default=())
    contact_account_ids: tuple[str, ...] = field(default=())


def normalise_short_code(raw: str) -> str:
    """Return a short code as digits ("36 111", "+36111" -> "36111"); alphanumeric senders stay as written."""
    return normalise_written_code(raw) or (raw or "").strip()


def sender_e164(raw: str, *, default_region: str) -> str | None:
    """Return the sender as E.164, reading national formats in the carrier's region; None if unusable."""
    text = (raw or "").strip()
    if not text:
        return None
    candidates = [text]
    digits = re.sub(r"[\s().-]", "", text)
    if digits.isdigit() and not digits.startswith("0"):
        # SMPP "international" numbers arrive without their plus sign.
        candidates.append("+" + digits)
    for candidate in candidates:
        try:
            e164 = normalize(candidate, default_region=default_region)
        except InvalidPhoneNumber:
            continue
        if _E164.match(e164):
            return e164
    return None


def serves(carrier_short_codes: Collection[str], short_code: str) -> bool:
    """Tell whether a carrier serves a short code (an empty list means it serves any)."""
    if not carrier_short_codes:
        return True
    return short_code in {normalise_short_code(code) for code in carrier_short_codes}


def accounts_on(short_code: str, accounts: Iterable[AccountRoute]) -> list[AccountRoute]:
    """Return the active accounts that use a short code, in a stable order."""
    found = [a for a in accounts if a.active and short_code in {normalise_short_code(c) for c in a.short_codes}]
    return sorted(found, key=lambda a: a.account_id)


def plan_reply(
    *,
    text: str,
    raw_from: str,
    raw_to: str,
    default_region: str,
    carrier_short_codes: Collection[str],
    accounts: Iterable[AccountRoute],
) -> ReplyPlan:
    """Classify a reply and decide which events it produces (see the module's rules)."""
    short_code = normalise_short_code(raw_to)
    classification = classify(text, short_codes=[short_code] if short_code else [])
    phone = sender_e164(raw_from, default_region=default_region)
    routes = accounts_on(short_code, accounts)
    unroutable: UnroutableReason | None = None
    if phone is None:
        unroutable = "invalid_sender"
    elif not serves(carrier_short_codes, short_code):
        unroutable = "short_code_not_served"
    elif not routes:
        unroutable = "unknown_short_code"
    account_ids = tuple(a.account_id for a in routes)
    if phone is None:
        return ReplyPlan(classification, None, short_code, account_ids, unroutable, optout=False)
    # Only a STOP crosses a configuration doubt: a re-subscription changes consent and a
    # CONTACT answer is paid for, so both need a short code this carrier really serves.
    routed = unroutable is None
    optin = tuple(a.account_id for a in routes if a.allow_resubscribe) if routed and classification == "optin" else ()
    contact = account_ids if routed and classification == "contact" else ()
    return ReplyPlan(
        classification,
        phone,
        short_code,
        account_ids,
        unroutable,
        optout=classification == "stop",
        optin_account_ids=optin,
        contact_account_ids=contact,
    )
