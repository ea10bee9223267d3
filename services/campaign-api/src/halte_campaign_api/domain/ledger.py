"""Credit ledger: an account's balance is the sum of its movements, and only the law may overdraw it.

Rules (SPEC rule 5, reference/002: "the confirmation SMS is billed one credit per
unsubscribe"; CONTRACT.md ``GET /v1/ledger``: each movement with its reason and cause):

- The balance is the sum of the movements, nothing else: ``topup`` and ``refund`` add,
  ``reservation``, ``debit``, ``optout_confirmation`` and ``contact_reply`` take away.
  A ``reservation`` takes a campaign's estimated cost when it is launched; what was not
  used comes back as a ``refund`` naming the same cause (never more than was charged
  for it). A ``debit`` charges directly (a unit send).
- A movement that would take the balance below zero is refused with
  ``insufficient_credits``, except ``optout_confirmation``: the confirmation SMS of an
  opt-out is legally required and must go out even when the account has no credit left,
  so it may overdraw; the negative balance is a debt.
- An opt-out confirmation costs exactly one credit, and one cause (the opt-out event) is
  charged once: a redelivered event has no second effect (at-least-once bus). The same
  holds for a CONTACT reply and for a campaign's reservation.
- A top-up first settles the debt; only the rest becomes available credit.
- Every movement names its cause (the event, campaign or operator reference behind it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from halte_campaign_api.domain.errors import DomainError

MovementKind = Literal["topup", "reservation", "debit", "refund", "optout_confirmation", "contact_reply"]

MOVEMENT_KINDS: Final = ("topup", "reservation", "debit", "refund", "optout_confirmation", "contact_reply")
CREDITING_KINDS: Final = frozenset({"topup", "refund"})
CHARGE_KINDS: Final = frozenset({"reservation", "debit", "optout_confirmation", "contact_reply"})
#: Only the legally required opt-out confirmation may take the balance below zero.
MAY_OVERDRAW: Final = frozenset({"optout_confirmation"})
#: Kinds a single cause can produce once: a redelivered event must not charge twice.
ONCE_PER_CAUSE: Final = frozenset({"reservation", "optout_confirmation", "contact_reply"})
OPTOUT_CONFIRMATION_CREDITS: Final = 1
#: Far above any real movement; keeps sums inside a PostgreSQL bigint and catches typos.
MAX_AMOUNT: Final = 1_000_000_000
MAX_CAUSE_LENGTH: Final = 200


@dataclass(frozen=True, slots=True)
class Movement:
    """One credit movement: its kind, its positive amount and the cause that produced it."""

    kind: MovementKind | str  # checked against MOVEMENT_KINDS: callers pass what the database or JSON holds
    amount: int
    cause: str
    note: str | None = None
    at: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in MOVEMENT_KINDS:
            raise DomainError("invalid_movement_kind", f"kind must be one of {', '.join(MOVEMENT_KINDS)}.", "kind")
        # bool is an int in Python; True credits nobody.
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise DomainError("invalid_amount", "amount must be a whole number of credits.", "amount")
        if not 1 <= self.amount <= MAX_AMOUNT:
            raise DomainError("invalid_amount", f"amount must be between 1 and {MAX_AMOUNT}.", "amount")
        if self.kind == "optout_confirmation" and self.amount != OPTOUT_CONFIRMATION_CREDITS:
            raise DomainError(
                "invalid_amount", "An opt-out confirmation costs exactly one credit (SPEC rule 5).", "amount"
            )
        if not isinstance(self.cause, str) or not self.cause.strip() or len(self.cause) > MAX_CAUSE_LENGTH:
            raise DomainError("invalid_cause", "Every movement names its cause (1 to 200 characters).", "cause")
        if self.at is not None and self.at.tzinfo is None:
            raise DomainError("naive_datetime", "at must carry a time zone offset.", "at")

    @property
    def delta(self) -> int:
        """The signed effect on the balance."""
        return self.amount if self.kind in CREDITING_KINDS else -self.amount


@dataclass(frozen=True, slots=True)
class TopupSplit:
    """How a top-up is used: first to settle the debt, the rest as available credit."""

    settled_debt: int
    credited: int


def balance_of(movements: Iterable[Movement]) -> int:
    """Return the balance: the sum of the movements' signed amounts."""
    return sum(m.delta for m in movements)


def debt_of(balance: int) -> int:
    """Return the debt a balance shows (credits owed), zero when it is not negative."""
    return max(0, -balance)


def ensure_affordable(balance: int, movement: Movement) -> None:
    """Raise insufficient_credits if the movement would overdraw and the law does not require it."""
    if movement.delta >= 0 or movement.kind in MAY_OVERDRAW:
        return
    if balance + movement.delta < 0:
        raise DomainError(
            "insufficient_credits",
            f"This needs {movement.amount} credits; the account has {max(0, balance)} available"
            + (f" and a debt of {debt_of(balance)}." if balance < 0 else "."),
            "amount",
        )


def next_balance(balance: int, movement: Movement) -> int:
    """Return the balance after the movement, refusing an overdraft the law does not require."""
    ensure_affordable(balance, movement)
    return balance + movement.delta


def topup_split(balance: int, amount: int) -> TopupSplit:
    """Return how much of a top-up settles the debt and how much becomes available."""
    settled = min(amount, debt_of(balance))
    return TopupSplit(settled_debt=settled, credited=amount - settled)


@dataclass(frozen=True, slots=True)
class Ledger:
    """An account's movements, oldest first, with the balance they add up to."""

    movements: tuple[Movement, ...] = ()
    balance: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "movements", tuple(self.movements))
        object.__setattr__(self, "balance", balance_of(self.movements))

    @property
    def debt(self) -> int:
        """The credits owed after opt-out confirmations overdrew the balance."""
        return debt_of(self.balance)

    @property
    def available(self) -> int:
        """The credits that reservations and debits may use."""
        return max(0, self.balance)

    def has(self, kind: str, cause: str) -> bool:
        """Tell whether a movement of this kind was already recorded for this cause."""
        return any(m.kind == kind and m.cause == cause for m in self.movements)

    def refundable(self, cause: str) -> int:
        """Return how much can still be refunded for a cause: charged minus already refunded."""
        charged = sum(m.amount for m in self.movements if m.cause == cause and m.kind in CHARGE_KINDS)
        refunded = sum(m.amount for m in self.movements if m.cause == cause and m.kind == "refund")
        return charged - refunded

    def record(self, movement: Movement) -> Ledger:
        """Return the ledger with the movement added, or unchanged if its cause was already charged."""
        if movement.kind in ONCE_PER_CAUSE and self.has(movement.kind, movement.cause):
            return self
        if movement.kind == "refund" and movement.amount > self.refundable(movement.cause):
            raise DomainError(
                "refund_exceeds_charge",
                f"Only {self.refundable(movement.cause)} credits were charged and not refunded for {movement.cause!r}.",
                "amount",
            )
        ensure_affordable(self.balance, movement)
        return Ledger((*self.movements, movement))
