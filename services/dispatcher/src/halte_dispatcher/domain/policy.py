"""The dispatcher's policy: every rule of SPEC.md applied to one message, in one documented order.

Sources: SPEC.md rules 1-5 and 8 and the "fail closed" non-negotiable; CONTRACT.md
``POST /v1/policy/evaluate`` ("the same code path the dispatcher uses for real sends"). Each rule
lives in its own module (consent, content, suppression, credits, hours); this module only
composes them. The first rule that objects decides, in this order:

1. ``invalid_number`` / ``not_mobile`` (refuse): nothing else means anything without a recipient.
2. ``marketing_not_allowed`` (refuse): a "notification" account sends informative SMS only;
   ``promotional_content`` (refuse): an informative message whose text is promotional
   (halte_rules.promotional), whatever label the client chose.
3. Suppression (marketing): ``suppressed`` (refuse), then ``optout_pending`` and
   ``suppression_feed_stale`` (hold): an opted-out number is reported as such before any other
   flaw of the message (suppression.py).
4. Consent (marketing): the refusals of ``halte_rules.consent`` (``no_consent``,
   ``customer_consent_expired``, ``customer_category_not_bought``, ``b2b_profession_not_concerned``,
   ``non_commercial_not_allowed``...; refuse), given what the message concerns (``category``,
   ``professions``) and the account's non-commercial flag.
5. Content and sender (marketing): sender (French destinations), STOP mention or unsubscribe
   link, advertiser name (refuse; see content.py for the reasons).
6. Credits (every kind): ``insufficient_credits`` (refuse).
7. Time (marketing): the instant considered is ``send_at`` when it lies in the future, else
   ``now``. Outside the window: hold with ``outside_hours`` / ``sunday`` / ``public_holiday`` and
   ``next_window_start`` = the first allowed instant at or after it. Inside the window but in the
   future: hold ``scheduled`` until ``send_at``. An account window that leaves no time to send
   refuses ``invalid_hours_window``; an unknown profile name falls back to ``strict``, the narrowest
   legal window. Informative messages only wait for a future ``send_at`` (``scheduled``).
8. Otherwise ``send`` / ``ok``.

Holds are not final: the dispatcher evaluates the message again when it is released, so a rule
that changed meanwhile (an opt-out, a consent that expired) still applies. Rules checked against
``now`` (consent) are therefore checked again at release time.

Time is passed in (``now``, an aware datetime); this module does no I/O and reads no clock.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Literal

from halte_dispatcher.domain.consent import ConsentRecord, consent_problem
from halte_dispatcher.domain.content import content_problem, sender_problem, text_problem
from halte_dispatcher.domain.credits import credits_problem
from halte_dispatcher.domain.decision import (
    INVALID_HOURS_WINDOW,
    INVALID_NUMBER,
    MARKETING_NOT_ALLOWED,
    NOT_MOBILE,
    PROMOTIONAL_CONTENT,
    SCHEDULED,
    Decision,
)
from halte_dispatcher.domain.suppression import suppression_check
from halte_rules.hours import (
    DEFAULT_PROFILE,
    PROFILES,
    HoursConfigError,
    Window,
    is_allowed,
    next_window_start,
    recipient_calendar,
    window_closes_at,
    window_for,
)
from halte_rules.promotional import is_promotional
from halte_shared.phone import InvalidPhoneNumber, PhoneInfo, normalize_mobile

MessageKind = Literal["marketing", "informative"]
AccountMode = Literal["marketing", "notification"]

#: Optional rules a caller may leave out when it cannot know their input (the evaluate endpoint
#: knows no text, consent or credits). Number, account mode and hours are always checked.
CHECK_SUPPRESSION = "suppression"
CHECK_CONSENT = "consent"
CHECK_SENDER = "sender"
CHECK_TEXT = "text"
CHECK_CREDITS = "credits"
ALL_CHECKS = frozenset({CHECK_SUPPRESSION, CHECK_CONSENT, CHECK_SENDER, CHECK_TEXT, CHECK_CREDITS})


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyInput:
    """Everything the policy needs to know about one message; defaults fail closed."""

    phone: str
    kind: MessageKind
    account_id: str | None = None
    account_mode: AccountMode = "marketing"
    sender: str | None = None
    text: str | None = None
    advertiser_name: str | None = None
    short_codes: tuple[str, ...] = ()
    unsubscribe_url: str | None = None
    consent: ConsentRecord | None = None
    # What a marketing message concerns and the account's flag, for the consent rule.
    category: str | None = None
    professions: tuple[str, ...] = ()
    account_non_commercial: bool = False
    postal_code: str | None = None
    hours_profile: str = DEFAULT_PROFILE
    window_start: str | time | None = None
    window_end: str | time | None = None
    credits_reserved: bool | int = False
    cost: int = 1
    suppressed: bool = False
    suppression_current: bool = False
    optout_pending: bool = False
    send_at: datetime | None = None
    checks: frozenset[str] = field(default=ALL_CHECKS)

    def __post_init__(self) -> None:
        if self.kind not in ("marketing", "informative"):
            raise ValueError(f"kind must be marketing or informative, not {self.kind!r}")
        if self.account_mode not in ("marketing", "notification"):
            raise ValueError(f"account_mode must be marketing or notification, not {self.account_mode!r}")
        if self.send_at is not None and self.send_at.utcoffset() is None:
            raise ValueError("send_at must be timezone-aware")
        unknown = set(self.checks) - ALL_CHECKS
        if unknown:
            raise ValueError(f"unknown checks {sorted(unknown)}")
        # Frozen: normalise the collections and the consent snapshot once, here.
        object.__setattr__(self, "short_codes", tuple(self.short_codes))
        object.__setattr__(self, "checks", frozenset(self.checks))
        object.__setattr__(self, "consent", ConsentRecord.of(self.consent))
        object.__setattr__(self, "professions", tuple(self.professions))

    @classmethod
    def probe(
        cls,
        *,
        phone: str,
        kind: MessageKind,
        postal_code: str | None = None,
        sender: str | None = None,
        account_id: str | None = None,
        account_mode: AccountMode = "marketing",
        short_codes: tuple[str, ...] = (),
        hours_profile: str = DEFAULT_PROFILE,
        window_start: str | time | None = None,
        window_end: str | time | None = None,
        suppressed: bool | None = None,
        suppression_current: bool = False,
        optout_pending: bool = False,
    ) -> PolicyInput:
        """Return the input of ``POST /v1/policy/evaluate``: number, kind, sender, hours, blocklist if known."""
        checks = set()
        if sender is not None:
            checks.add(CHECK_SENDER)
        if suppressed is not None:
            checks.add(CHECK_SUPPRESSION)
        return cls(
            phone=phone,
            kind=kind,
            postal_code=postal_code,
            sender=sender,
            account_id=account_id,
            account_mode=account_mode,
            short_codes=short_codes,
            hours_profile=hours_profile,
            window_start=window_start,
            window_end=window_end,
            suppressed=bool(suppressed),
            suppression_current=suppression_current,
            optout_pending=optout_pending,
            checks=frozenset(checks),
        )

    @classmethod
    def from_dispatch(
        cls,
        request: Any,
        *,
        advertiser_name: str | None,
        short_codes: tuple[str, ...],
        suppressed: bool,
        suppression_current: bool,
        optout_pending: bool = False,
    ) -> PolicyInput:
        """Return the input for a ``dispatch.requested`` payload plus the account and blocklist views."""
        return cls(
            phone=request.phone,
            kind=request.kind,
            account_id=request.account_id,
            account_mode=request.account_mode,
            sender=request.sender,
            text=request.text,
            advertiser_name=advertiser_name,
            short_codes=tuple(short_codes),
            unsubscribe_url=request.unsubscribe_url,
            consent=ConsentRecord.of(request.consent),
            category=request.category,
            professions=tuple(request.professions),
            account_non_commercial=request.account_non_commercial,
            postal_code=request.postal_code,
            hours_profile=request.hours_profile,
            window_start=request.window_start,
            window_end=request.window_end,
            credits_reserved=request.credits_reserved,
            cost=getattr(request, "segments", 1),
            suppressed=suppressed,
            suppression_current=suppression_current,
            optout_pending=optout_pending,
            send_at=request.send_at,
        )


@functools.lru_cache(maxsize=16384)
def recipient_number(phone: str) -> PhoneInfo:
    """Return the recipient's number described, or raise InvalidPhoneNumber (memoised: parsing is costly)."""
    # A dispatcher batch evaluates a number, then asks its deadline: the second read is free.
    # Failures are not memoised (lru_cache does not keep exceptions), which only costs time.
    return normalize_mobile(phone)


def account_window(*, hours_profile: str, window_start: str | time | None, window_end: str | time | None) -> Window:
    """Return the window an account dispatches marketing in: its profile, narrowed, never widened."""
    # An unknown profile name is an operator mistake; strict is the narrowest legal window, so
    # falling back to it can only hold more, never send where the law forbids.
    profile = hours_profile if hours_profile in PROFILES else DEFAULT_PROFILE
    # Clamped rather than refused: a window saved under a looser profile stays lawful if the
    # operator later tightens the profile. Configuration endpoints refuse wider windows instead.
    return window_for(profile, start=window_start, end=window_end, clamp=True)


def evaluate(request: PolicyInput, *, now: datetime) -> Decision:
    """Return the decision for one message at ``now``: send, hold (with its release time) or refuse."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    checks = request.checks
    marketing = request.kind == "marketing"

    try:
        phone_info = recipient_number(request.phone)
    except InvalidPhoneNumber as exc:
        return Decision.refuse(NOT_MOBILE if exc.code == "not_mobile" else INVALID_NUMBER)

    if marketing and request.account_mode == "notification":
        return Decision.refuse(MARKETING_NOT_ALLOWED)

    if not marketing and CHECK_TEXT in checks and is_promotional(request.text or ""):
        # The client chose the label; the text decides. Refused, not sent as marketing: a
        # promotion the client did not write as one lacks what marketing needs (consent proof,
        # the mention), and the refusal tells the client why.
        return Decision.refuse(PROMOTIONAL_CONTENT)

    if CHECK_SUPPRESSION in checks:
        held_or_refused = suppression_check(
            kind=request.kind,
            suppressed=request.suppressed,
            feed_current=request.suppression_current,
            optout_pending=request.optout_pending,
        )
        if held_or_refused is not None:
            return held_or_refused

    if marketing and CHECK_CONSENT in checks:
        problem = consent_problem(
            request.consent,
            now=now,
            category=request.category,
            professions=request.professions,
            account_non_commercial=request.account_non_commercial,
        )
        if problem is not None:
            return Decision.refuse(problem)

    if marketing and (CHECK_SENDER in checks or CHECK_TEXT in checks):
        problem = _content_problem(request, french_destination=phone_info.is_french)
        if problem is not None:
            return Decision.refuse(problem)

    if CHECK_CREDITS in checks:
        problem = credits_problem(reserved=request.credits_reserved, cost=request.cost)
        if problem is not None:
            return Decision.refuse(problem)

    target = request.send_at if request.send_at is not None and request.send_at > now else now
    if marketing:
        try:
            window = account_window(
                hours_profile=request.hours_profile, window_start=request.window_start, window_end=request.window_end
            )
        except HoursConfigError:
            return Decision.refuse(INVALID_HOURS_WINDOW)
        calendar = recipient_calendar(phone_info=phone_info, postal_code=request.postal_code)
        closed = is_allowed(target, calendar=calendar, window=window)
        if closed is not None:
            return Decision.hold(closed, next_window_start(target, calendar=calendar, window=window))
        if target > now:
            return Decision.hold(SCHEDULED, target.astimezone(calendar.zone))
        return Decision.send()
    if target > now:
        return Decision.hold(SCHEDULED, target)
    return Decision.send()


def dispatch_deadline(request: PolicyInput, *, now: datetime) -> datetime | None:
    """Return when a ``send`` decided at ``now`` stops being lawful to dispatch, or None if never.

    Rule 4 constrains the moment the SMS leaves, not the moment it was decided: a marketing send
    still waiting for a carrier at the window's last dispatch minute must be evaluated again
    (and held until the next opening). Informative messages have no deadline. Same inputs and
    fallbacks as :func:`evaluate`, so the two never disagree on the window.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if request.kind != "marketing":
        return None
    try:
        phone_info = recipient_number(request.phone)
        window = account_window(
            hours_profile=request.hours_profile, window_start=request.window_start, window_end=request.window_end
        )
    except (InvalidPhoneNumber, HoursConfigError):
        # evaluate() refuses these; a send cannot exist, so it is already too late.
        return now
    calendar = recipient_calendar(phone_info=phone_info, postal_code=request.postal_code)
    return window_closes_at(now, calendar=calendar, window=window)


def _content_problem(request: PolicyInput, *, french_destination: bool) -> str | None:
    if CHECK_TEXT not in request.checks:
        # Sender only (the evaluate endpoint knows no text); it is free outside France.
        if not french_destination:
            return None
        return sender_problem(request.sender or "", short_codes=request.short_codes)
    if CHECK_SENDER not in request.checks:
        return text_problem(
            request.text or "",
            advertiser_name=request.advertiser_name,
            french_destination=french_destination,
            sender=request.sender,
            short_codes=request.short_codes,
            unsubscribe_url=request.unsubscribe_url,
        )
    return content_problem(
        text=request.text or "",
        sender=request.sender or "",
        advertiser_name=request.advertiser_name,
        french_destination=french_destination,
        short_codes=request.short_codes,
        unsubscribe_url=request.unsubscribe_url,
    )
