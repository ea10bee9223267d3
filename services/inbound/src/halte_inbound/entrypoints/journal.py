"""The opt-out journal, read by the dispatcher (operator token): every acknowledged opt-out, pushed.

``GET /v1/internal/optout-journal?after=<sequence>&wait=<seconds>`` answers at once when
entries follow ``after``, else waits (up to ``wait``) for the next commit and answers then,
or answers an empty page when the wait ends. A reader that applies every page until one
ends at ``latest_sequence`` knows every opt-out acknowledged before its request was sent:
numbers are drawn in commit order. docs/stop-enforcement.md explains how the dispatcher uses it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from halte_inbound.adapters.journal import JOURNAL_CHANNEL, JournalPage, read_page
from halte_inbound.entrypoints.deps import Runtime
from halte_shared.notify import long_poll
from halte_shared.web import AdminOnly, ErrorResponse

router = APIRouter(tags=["opt-out journal"], dependencies=[AdminOnly], responses={401: {"model": ErrorResponse}})

MAX_PAGE = 10_000
#: The largest number PostgreSQL's bigint holds: a larger one is refused by name, not overflowed.
MAX_SEQUENCE = 2**63 - 1
MAX_WAIT_SECONDS = 10.0


class JournalEntryOut(BaseModel):
    """One acknowledged opt-out request."""

    sequence: int
    request_id: str
    channel: str = Field(description="sms, web or spam_report")
    phone: str = Field(description="E.164")
    short_code: str | None = Field(description="the short code (or reported sender) it was sent to")
    account_id: str | None = Field(description="the account, when the request names one (web)")
    received_at: datetime = Field(description="when the carrier (or the page) received it")
    acknowledged_at: datetime = Field(description="when inbound recorded it, before acknowledging it")


class JournalPageOut(BaseModel):
    """Entries after the reader's sequence, in sequence order, and the journal's head."""

    entries: list[JournalEntryOut]
    latest_sequence: int = Field(description="the last sequence drawn when the page was read")
    earliest_sequence: int | None = Field(description="the oldest entry still kept (older ones were pruned)")


@router.get("/v1/internal/optout-journal", response_model=JournalPageOut)
async def optout_journal(
    runtime: Runtime,
    after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE, description="the last sequence the reader holds")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS, description="seconds to wait for a new entry")] = 0.0,
) -> JournalPageOut:
    """Return the acknowledged opt-outs after a sequence, waiting up to `wait` seconds for one."""

    async def read() -> JournalPage:
        return await read_page(runtime.sessions, after=after, limit=limit)

    page = await long_poll(
        read,
        empty=lambda p: not p.entries,
        notifications=runtime.notifications,
        channel=JOURNAL_CHANNEL,
        wait_seconds=wait,
    )
    return JournalPageOut(
        entries=[JournalEntryOut.model_validate(entry, from_attributes=True) for entry in page.entries],
        latest_sequence=page.latest_sequence,
        earliest_sequence=page.earliest_sequence,
    )
