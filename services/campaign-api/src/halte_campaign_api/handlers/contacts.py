"""The address book: upsert, read, list and erase contacts, each with its consent record."""

from __future__ import annotations

import base64
from typing import Any

import structlog
from sqlalchemy import and_, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from halte_campaign_api.adapters.ports import ServiceUnavailable
from halte_campaign_api.adapters.tables import accounts, contacts, erasures, suppression_state
from halte_campaign_api.domain.consent import BASES
from halte_campaign_api.domain.contacts import ContactRecord, check_contact, check_tags
from halte_campaign_api.domain.errors import DomainError, has_unstorable, safe_text
from halte_campaign_api.domain.phones import normalize_contact_phone
from halte_campaign_api.handlers.errors import Conflict, NotFound
from halte_campaign_api.runtime import CampaignRuntime
from halte_rules.consent import record_consent_refusal
from halte_shared.events import ConsentSnapshot

log = structlog.get_logger("halte.campaign_api.contacts")

CONSENT_COLUMNS = {
    "basis": contacts.c.consent_basis,
    "collected_at": contacts.c.consent_collected_at,
    "source": contacts.c.consent_source,
    "wording": contacts.c.consent_wording,
    "last_purchase_at": contacts.c.consent_last_purchase_at,
    "profession": contacts.c.consent_profession,
    "purchase_categories": contacts.c.consent_purchase_categories,
}
MAX_PAGE = 1000
ADDRESS_BOOK_LOCK = "address-book:"


def consent_of(row: Any) -> dict[str, Any]:
    """Return a contact row's consent record."""
    consent = {name: getattr(row, column.name) for name, column in CONSENT_COLUMNS.items()}
    consent["purchase_categories"] = list(consent["purchase_categories"] or [])
    return consent


def snapshot_of(row: Any) -> ConsentSnapshot:
    """Return a contact row's consent as the event snapshot."""
    return ConsentSnapshot(**consent_of(row))


async def account_non_commercial(session: AsyncSession, account_id: str) -> bool:
    """Tell whether the operator flagged the account non-commercial (the non_commercial basis needs it)."""
    flagged = (await session.execute(select(accounts.c.non_commercial).where(accounts.c.id == account_id))).scalar()
    return bool(flagged)


def contact_view(row: Any, *, now: Any, account_non_commercial: bool = False) -> dict[str, Any]:
    """Return a contact as the API shows it, saying whether some marketing message may reach it now.

    ``marketing_refusal`` is the consent rule's reason when no marketing message can (whatever
    its category or professions), with the basis and the missing fact in words; a message's own
    facts are judged when it is sent (halte_rules.consent).
    """
    consent = consent_of(row)
    refusal = record_consent_refusal(consent, at=now, account_non_commercial=account_non_commercial)
    return {
        "phone": row.phone,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "postal_code": row.postal_code,
        "tags": list(row.tags),
        "consent": consent,
        "marketing_allowed": refusal is None,
        "marketing_refusal": None if refusal is None else refusal.reason,
        "marketing_refusal_missing": None if refusal is None else refusal.missing,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def contact_values(record: ContactRecord) -> dict[str, Any]:
    """Return the columns of a checked contact."""
    consent = record.consent
    return {
        "phone": record.phone,
        "first_name": record.first_name,
        "last_name": record.last_name,
        "postal_code": record.postal_code,
        "tags": record.tags,
        "consent_basis": consent["basis"],
        "consent_collected_at": consent.get("collected_at"),
        "consent_source": consent.get("source"),
        "consent_wording": consent.get("wording"),
        "consent_last_purchase_at": consent.get("last_purchase_at"),
        "consent_profession": consent.get("profession"),
        "consent_purchase_categories": consent.get("purchase_categories") or [],
    }


async def lock_address_book(session: AsyncSession, account_id: str) -> None:
    """Serialise, for this transaction, the changes that add numbers to an account's address book.

    An opt-out consumed while an upsert or an import checks the list would otherwise let the
    number back in: both take this lock, so one sees the other's commit.
    """
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(ADDRESS_BOOK_LOCK + account_id, 0))))


async def locally_suppressed(session: AsyncSession, *, account_id: str, phones: list[str]) -> set[str]:
    """Return which numbers this service knows to be on the account's suppression list."""
    if not phones:
        return set()
    rows = await session.execute(
        select(suppression_state.c.phone).where(
            suppression_state.c.account_id == account_id,
            suppression_state.c.phone.in_(phones),
            suppression_state.c.suppressed,
        )
    )
    return {r.phone for r in rows}


async def is_suppressed(runtime: CampaignRuntime, *, account_id: str, phone: str) -> bool:
    """Tell whether a number is suppressed for the account: the authority, else this service's view."""
    async with runtime.sessions() as session:
        if await locally_suppressed(session, account_id=account_id, phones=[phone]):
            return True
    try:
        return phone in await runtime.suppression.check(account_id=account_id, phones=[phone])
    except ServiceUnavailable as exc:
        # The local view holds every opt-out this service has consumed; an opt-out still in
        # flight deletes the contact when it arrives, and the dispatcher checks the list at send.
        log.warning(
            "the suppression service did not answer; relying on this service's own view of the list",
            account_id=account_id,
            error=str(exc),
        )
        return False


async def upsert_contact(
    runtime: CampaignRuntime, *, account_id: str, phone: str, body: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Create or replace one contact; return its view and whether it was created."""
    now = runtime.clock.now()
    async with runtime.sessions() as session:
        flagged = await account_non_commercial(session, account_id)
    record = check_contact(
        phone=phone,
        first_name=body.get("first_name"),
        last_name=body.get("last_name"),
        postal_code=body.get("postal_code"),
        tags=body.get("tags"),
        consent=body.get("consent"),
        now=now,
        account_non_commercial=flagged,
    )
    refusal = Conflict(
        "suppressed",
        f"{record.phone} opted out of this account's messages; it stays only on the suppression list "
        "and can come back only through a new opt-in (a START reply where the account allows it).",
        "phone",
    )
    if await is_suppressed(runtime, account_id=account_id, phone=record.phone):
        raise refusal
    values = contact_values(record)
    async with runtime.sessions() as session, session.begin():
        await lock_address_book(session, account_id)
        if await locally_suppressed(session, account_id=account_id, phones=[record.phone]):
            raise refusal
        statement = insert(contacts).values(account_id=account_id, created_at=now, updated_at=now, **values)
        upsert = statement.on_conflict_do_update(
            index_elements=[contacts.c.account_id, contacts.c.phone],
            set_={**{k: statement.excluded[k] for k in values if k != "phone"}, "updated_at": now},
        ).returning(contacts, (contacts.c.created_at == now).label("created"))
        row = (await session.execute(upsert)).one()
    return contact_view(row, now=now, account_non_commercial=flagged), bool(row.created)


async def get_contact(runtime: CampaignRuntime, *, account_id: str, phone: str) -> dict[str, Any]:
    """Return one contact of the account, or raise NotFound."""
    e164 = normalize_contact_phone(phone)
    async with runtime.sessions() as session:
        row = (
            await session.execute(select(contacts).where(contacts.c.account_id == account_id, contacts.c.phone == e164))
        ).first()
        flagged = await account_non_commercial(session, account_id)
    if row is None:
        raise NotFound("The contact", "phone")
    return contact_view(row, now=runtime.clock.now(), account_non_commercial=flagged)


async def erase_contact(
    session: AsyncSession, *, account_id: str, phone: str, reason: str, cause: str, at: Any, record_absent: bool
) -> bool:
    """Delete a contact and record the erasure (kept as evidence); return whether it existed."""
    deleted = await session.execute(
        delete(contacts)
        .where(contacts.c.account_id == account_id, contacts.c.phone == phone)
        .returning(contacts.c.phone)
    )
    existed = deleted.first() is not None
    if existed or record_absent:
        await session.execute(
            erasures.insert().values(
                account_id=account_id,
                phone=phone,
                reason=reason,
                cause=cause,
                contact_existed=existed,
                erased_at=at,
            )
        )
    return existed


async def delete_contact(runtime: CampaignRuntime, *, account_id: str, phone: str, request_id: str) -> None:
    """Erase one contact at the account's request (its data goes; the erasure is recorded)."""
    e164 = normalize_contact_phone(phone)
    async with runtime.sessions() as session, session.begin():
        existed = await erase_contact(
            session,
            account_id=account_id,
            phone=e164,
            reason="api",
            cause=f"api:{safe_text(request_id)[:64]}",
            at=runtime.clock.now(),
            record_absent=False,
        )
    if not existed:
        raise NotFound("The contact", "phone")
    log.info("contact erased at the account's request", account_id=account_id)


def encode_cursor(value: str) -> str:
    """Return an opaque cursor for a position."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """Return the position of a cursor, or raise DomainError."""
    if not cursor:
        return None
    try:
        position = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        position = ""
    if not position or has_unstorable(position):
        raise DomainError("invalid_cursor", "cursor is not one this API returned.", "cursor")
    return position


def check_limit(limit: int | None, *, default: int = 100) -> int:
    """Return a page size, or raise DomainError."""
    if limit is None:
        return default
    if not 1 <= limit <= MAX_PAGE:
        raise DomainError("invalid_limit", f"limit must be between 1 and {MAX_PAGE}.", "limit")
    return limit


async def list_contacts(
    runtime: CampaignRuntime,
    *,
    account_id: str,
    tag: str | None,
    consent_basis: str | None,
    cursor: str | None,
    limit: int | None,
) -> dict[str, Any]:
    """Return a page of the account's contacts in number order, filtered by tag and consent basis."""
    size = check_limit(limit)
    after = decode_cursor(cursor)
    conditions = [contacts.c.account_id == account_id]
    if tag is not None:
        [tag] = check_tags([tag], field="tag")
        conditions.append(contacts.c.tags.contains([tag]))
    if consent_basis is not None:
        if consent_basis not in BASES:
            raise DomainError("invalid_basis", f"consent_basis must be one of {', '.join(BASES)}.", "consent_basis")
        conditions.append(contacts.c.consent_basis == consent_basis)
    if after is not None:
        conditions.append(contacts.c.phone > after)
    async with runtime.sessions() as session:
        rows = (
            await session.execute(select(contacts).where(and_(*conditions)).order_by(contacts.c.phone).limit(size + 1))
        ).all()
        flagged = await account_non_commercial(session, account_id)
    now = runtime.clock.now()
    items = [contact_view(r, now=now, account_non_commercial=flagged) for r in rows[:size]]
    return {
        "items": items,
        "next_cursor": encode_cursor(rows[size - 1].phone) if len(rows) > size else None,
    }
