"""Informative templates: declared by an account, reviewed by the operator, required when the operator says.

The rules (states, limits, matching) are domain/templates.py'. Here: storage, tenancy (an
account reaches only its own templates; another account's id answers 404), the operator's
review queue across accounts, and ``require_informative_template``, the single call the
composition points make (handlers/messages.py ``send_message``, handlers/campaigns.py
``create_campaign`` and ``launch_campaign``) before an informative text goes further.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from halte_campaign_api.adapters.tables import accounts, templates
from halte_campaign_api.domain.errors import DomainError
from halte_campaign_api.domain.ids import is_uuid
from halte_campaign_api.domain.templates import (
    DEFAULT_TEMPLATE_MODE,
    MAX_TEMPLATES,
    STATES,
    check_note,
    check_template_name,
    check_template_text,
    detector_version,
    first_match,
    review,
    screen_template,
    usable_states,
)
from halte_campaign_api.handlers.contacts import check_limit, decode_cursor, encode_cursor
from halte_campaign_api.handlers.errors import Conflict, NotFound
from halte_campaign_api.runtime import CampaignRuntime

log = structlog.get_logger("halte.campaign_api.templates")


def template_view(row: Any) -> dict[str, Any]:
    """Return a template as the API shows it."""
    return {
        "id": row.id,
        "account_id": row.account_id,
        "name": row.name,
        "text": row.text,
        "placeholders": list(row.placeholders),
        "state": row.state,
        "review_note": row.review_note,
        "detector_version": row.detector_version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "reviewed_at": row.reviewed_at,
        "retired_at": row.retired_at,
    }


def _check_state_filter(state: str | None) -> str | None:
    if state is not None and state not in STATES:
        raise DomainError("invalid_filter", f"state must be one of {', '.join(STATES)}.", "state")
    return state


def _after_cursor(cursor: str | None, *, newest_first: bool) -> Any:
    position = decode_cursor(cursor)
    if position is None:
        return None
    at_text, _, template_id = position.partition("|")
    try:
        at = datetime.fromisoformat(at_text)
    except ValueError:
        raise DomainError("invalid_cursor", "cursor is not one this API returned.", "cursor") from None
    if at.utcoffset() is None or not is_uuid(template_id):
        raise DomainError("invalid_cursor", "cursor is not one this API returned.", "cursor")
    if newest_first:
        return or_(templates.c.created_at < at, and_(templates.c.created_at == at, templates.c.id < template_id))
    return or_(templates.c.created_at > at, and_(templates.c.created_at == at, templates.c.id > template_id))


def _page(rows: list[Any], size: int) -> tuple[list[Any], str | None]:
    last = rows[size - 1] if len(rows) > size else None
    cursor = encode_cursor(f"{last.created_at.isoformat()}|{last.id}") if last is not None else None
    return rows[:size], cursor


async def _load(session: AsyncSession, template_id: str, *, account_id: str | None, lock: bool = False) -> Any:
    if not is_uuid(template_id):
        raise NotFound("The template", "id")
    query = select(templates).where(templates.c.id == template_id)
    if account_id is not None:
        query = query.where(templates.c.account_id == account_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("The template", "id")
    return row


# --- The account's endpoints ---------------------------------------------------------------------


async def declare_template(runtime: CampaignRuntime, *, account_id: str, name: object, text: object) -> dict[str, Any]:
    """Record a template (pending), refusing a promotional one, a duplicate name or one too many."""
    tidy_name = check_template_name(name)
    placeholders = check_template_text(text)
    assert isinstance(text, str)
    screen_template(text)
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        # The account's row lock serialises declarations: the cap and the name check hold.
        locked = (
            await session.execute(select(accounts.c.id).where(accounts.c.id == account_id).with_for_update())
        ).first()
        if locked is None:
            raise NotFound("The account")
        kept = (
            await session.execute(
                select(templates.c.name).where(templates.c.account_id == account_id, templates.c.state != "retired")
            )
        ).all()
        if any(row.name == tidy_name for row in kept):
            raise Conflict(
                "duplicate_template",
                f"This account already has a template named {tidy_name!r}; retire it or choose another name.",
                "name",
            )
        if len(kept) >= MAX_TEMPLATES:
            raise DomainError(
                "too_many_templates",
                f"An account keeps at most {MAX_TEMPLATES} templates; retire some (DELETE /v1/templates/{{id}}).",
                "name",
            )
        row = {
            "id": str(uuid.uuid4()),
            "account_id": account_id,
            "name": tidy_name,
            "text": text,
            "placeholders": list(placeholders),
            "state": "pending",
            "detector_version": detector_version(),
            "review_note": None,
            "created_at": now,
            "updated_at": now,
            "reviewed_at": None,
            "retired_at": None,
        }
        await session.execute(templates.insert().values(**row))
        created = await _load(session, row["id"], account_id=account_id)
    log.info("informative template declared", account_id=account_id, template_id=row["id"], slots=len(placeholders))
    return template_view(created)


async def list_templates(
    runtime: CampaignRuntime, *, account_id: str, state: str | None, cursor: str | None, limit: int | None
) -> dict[str, Any]:
    """Return a page of the account's templates, most recent first, with what the account requires."""
    size = check_limit(limit, default=MAX_TEMPLATES)
    query = select(templates).where(templates.c.account_id == account_id)
    if _check_state_filter(state) is not None:
        query = query.where(templates.c.state == state)
    after = _after_cursor(cursor, newest_first=True)
    if after is not None:
        query = query.where(after)
    async with runtime.sessions() as session:
        mode = (
            await session.execute(select(accounts.c.informative_templates).where(accounts.c.id == account_id))
        ).scalar_one_or_none()
        rows = (
            await session.execute(query.order_by(templates.c.created_at.desc(), templates.c.id.desc()).limit(size + 1))
        ).all()
        counts = dict(
            (
                await session.execute(
                    select(templates.c.state, func.count())
                    .where(templates.c.account_id == account_id)
                    .group_by(templates.c.state)
                )
            ).all()
        )
    page, next_cursor = _page(rows, size)
    return {
        "informative_templates": mode or DEFAULT_TEMPLATE_MODE,
        "counts": {name: int(counts.get(name, 0)) for name in STATES},
        "max_templates": MAX_TEMPLATES,
        "items": [template_view(row) for row in page],
        "next_cursor": next_cursor,
    }


async def get_template(runtime: CampaignRuntime, *, account_id: str, template_id: str) -> dict[str, Any]:
    """Return one of the account's templates (another account's id answers 404)."""
    async with runtime.sessions() as session:
        return template_view(await _load(session, template_id, account_id=account_id))


async def retire_template(runtime: CampaignRuntime, *, account_id: str, template_id: str) -> None:
    """Retire one of the account's templates: it no longer vouches for any text, and stays as history."""
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        row = await _load(session, template_id, account_id=account_id, lock=True)
        if review(row.state, "retire") is None:
            return  # retiring twice keeps the first instant
        await session.execute(
            update(templates)
            .where(templates.c.id == template_id)
            .values(state="retired", retired_at=now, updated_at=now)
        )
    log.info("informative template retired", account_id=account_id, template_id=template_id, was=row.state)


# --- The operator's endpoints --------------------------------------------------------------------


async def review_queue(
    runtime: CampaignRuntime, *, state: str | None, account_id: str | None, cursor: str | None, limit: int | None
) -> dict[str, Any]:
    """Return templates across accounts, oldest first (``state=pending``: those awaiting review)."""
    size = check_limit(limit, default=100)
    query = select(templates, accounts.c.name.label("account_name"), accounts.c.informative_templates).join(
        accounts, accounts.c.id == templates.c.account_id
    )
    if _check_state_filter(state) is not None:
        query = query.where(templates.c.state == state)
    if account_id is not None:
        if not is_uuid(account_id):
            raise NotFound("The account", "account_id")
        query = query.where(templates.c.account_id == account_id)
    after = _after_cursor(cursor, newest_first=False)
    if after is not None:
        query = query.where(after)
    async with runtime.sessions() as session:
        rows = (await session.execute(query.order_by(templates.c.created_at, templates.c.id).limit(size + 1))).all()
    page, next_cursor = _page(rows, size)
    return {
        "items": [
            {
                **template_view(row),
                "account_name": row.account_name,
                "account_informative_templates": row.informative_templates,
            }
            for row in page
        ],
        "next_cursor": next_cursor,
    }


async def operator_template(runtime: CampaignRuntime, *, template_id: str) -> dict[str, Any]:
    """Return any account's template."""
    async with runtime.sessions() as session:
        return template_view(await _load(session, template_id, account_id=None))


async def review_template(
    runtime: CampaignRuntime, *, template_id: str, action: str, note: object = None
) -> dict[str, Any]:
    """Approve or reject a template (a rejection needs a note the account reads)."""
    tidy_note = check_note(note, required=action == "reject")
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        row = await _load(session, template_id, account_id=None, lock=True)
        target = review(row.state, action)
        if target is not None:
            await session.execute(
                update(templates)
                .where(templates.c.id == template_id)
                .values(state=target, review_note=tidy_note, reviewed_at=now, updated_at=now)
            )
        reviewed = await _load(session, template_id, account_id=None)
    if target is not None:
        log.info(
            "informative template reviewed",
            account_id=row.account_id,
            template_id=template_id,
            was=row.state,
            now=target,
        )
    return template_view(reviewed)


# --- Enforcement ---------------------------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


async def _require(session: AsyncSession, account: Mapping[str, Any], text: str, mode: str) -> None:
    rows = (
        await session.execute(
            select(templates.c.id, templates.c.name, templates.c.text, templates.c.state)
            .where(templates.c.account_id == account["id"], templates.c.state != "retired")
            .order_by(templates.c.created_at, templates.c.id)
        )
    ).all()
    usable = usable_states(mode)
    if first_match(((row.id, row.text) for row in rows if row.state in usable), text) is not None:
        return
    # Say what would make the text acceptable: a matching template awaiting review, or one rejected.
    other = {row.id: row for row in rows if row.state not in usable}
    waiting = first_match(((row.id, row.text) for row in other.values()), text)
    counts = {state: sum(1 for row in rows if row.state == state) for state in ("pending", "approved", "rejected")}
    held = (
        f"{_plural(counts['approved'], 'approved template')}, {counts['pending']} awaiting the operator's "
        f"approval, {counts['rejected']} rejected"
    )
    if mode == "approved":
        rule = "only in the words of a template the operator approved (informative_templates: approved)"
    else:
        rule = "only in the words of one of its declared templates (informative_templates: declared)"
    if waiting is not None and other[waiting].state == "pending":
        hint = (
            f" The text matches template {other[waiting].name!r}, which awaits the operator's approval: "
            "it can be used once approved."
        )
    elif waiting is not None:
        hint = f" The text matches template {other[waiting].name!r}, which the operator rejected."
    else:
        hint = (
            " Declare its wording with POST /v1/templates (the operator may need to approve it), "
            "or send a promotional text as kind 'marketing'."
        )
    raise DomainError(
        "informative_template_required",
        f"This account sends informative messages {rule}; this text matches none of its "
        f"{_plural(len(rows), 'template')} ({held}).{hint}",
        "text",
    )


async def require_informative_template(
    source: AsyncSession | CampaignRuntime, account: Mapping[str, Any], *, kind: str, text: object
) -> None:
    """Refuse ``informative_template_required`` when the account requires templates and none fits the text.

    ``source`` is an open session (inside the caller's transaction) or the runtime (a session is
    opened). Marketing texts, accounts whose requirement is ``off`` and texts that are not strings
    (refused by the composition with its own code) pass untouched.
    """
    mode = account.get("informative_templates") or DEFAULT_TEMPLATE_MODE
    if kind != "informative" or mode == "off" or not isinstance(text, str):
        return
    if isinstance(source, AsyncSession):
        await _require(source, account, text, mode)
        return
    async with source.sessions() as session:
        await _require(session, account, text, mode)
