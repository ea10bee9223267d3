"""The launcher: streams a running campaign's recipients to the dispatcher, batch by batch.

Each batch is one short transaction that reads the next contacts after the checkpoint
(in number order, among those that existed at launch), composes each recipient's final
text, charges it, writes its report row and its ``dispatch.requested`` into the outbox,
and moves the checkpoint, all together. A crash loses at most the batch in flight, which
was never committed, so a restarted launcher resumes at the checkpoint: no recipient is
lost or requested twice (and a request id is a UUIDv5 of campaign and number, so even a
replayed outbox row is deduplicated by the dispatcher). No transaction spans the
campaign and no more than a batch is in memory. A contact deleted meanwhile (erasure,
STOP) is simply not read. The campaign row is locked ``FOR UPDATE SKIP LOCKED`` for the
batch, so several replicas never stream the same campaign at once and a cancel waits for
the batch in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from halte_campaign_api.adapters.tables import accounts, campaigns, contacts, recipients
from halte_campaign_api.domain.campaigns import allocate_batch, request_id_for
from halte_campaign_api.domain.compose import compose
from halte_campaign_api.domain.errors import DomainError
from halte_campaign_api.domain.phones import is_french_number
from halte_campaign_api.handlers.campaigns import audience_condition, refund_unused, unsubscribe_url
from halte_campaign_api.handlers.contacts import consent_of
from halte_campaign_api.handlers.credits import lock_balance, record_movement
from halte_campaign_api.runtime import CampaignRuntime
from halte_shared.events import ConsentSnapshot, DispatchRequested, encode, envelope_for
from halte_shared.outbox import OUTBOX
from halte_shared.sms import measure

log = structlog.get_logger("halte.campaign_api.launcher")

STREAMED = Counter(
    "halte_campaign_api_recipients_streamed_total", "Campaign recipients requested, by outcome.", ["outcome"]
)


class Launcher:
    """Stream running campaigns, for the life of the service."""

    def __init__(self, runtime: CampaignRuntime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self._wake = asyncio.Event()
        #: Test hook: awaited after a batch is written and before it commits.
        self.before_commit: Callable[[], Awaitable[None]] | None = None

    def wake(self) -> None:
        """Tell the launcher a campaign was just launched."""
        self._wake.set()

    async def run(self) -> None:
        """Stream every running campaign, a batch of each in turn, until cancelled."""
        while True:
            try:
                busy = await self.run_once()
            except Exception as exc:
                log.error("streaming campaigns failed; retrying shortly", error=repr(exc))
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.settings.launcher_idle_seconds)
                self._wake.clear()

    async def run_once(self) -> bool:
        """Stream one batch of each running campaign; return whether any work was done."""
        async with self.runtime.sessions() as session:
            ids = (
                (
                    await session.execute(
                        select(campaigns.c.id)
                        .where(campaigns.c.status == "running")
                        .order_by(campaigns.c.launched_at)
                        .limit(50)
                    )
                )
                .scalars()
                .all()
            )
        busy = False
        for campaign_id in ids:
            if await self.stream_batch(campaign_id) is not None:
                busy = True
        return busy

    async def stream_all(self, campaign_id: str) -> int:
        """Stream a campaign to its end (tests and tools); return how many recipients were handled."""
        total = 0
        while (count := await self.stream_batch(campaign_id)) is not None:
            total += count
        return total

    async def stream_batch(self, campaign_id: str) -> int | None:
        """Stream the next batch of one campaign; return its size, or None when there was nothing to do."""
        now = self.runtime.clock.now()
        async with self.runtime.sessions() as session, session.begin():
            campaign = (
                await session.execute(
                    select(campaigns)
                    .where(campaigns.c.id == campaign_id, campaigns.c.status == "running")
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if campaign is None:
                return None
            query = select(contacts).where(audience_condition(campaign), contacts.c.created_at <= campaign.cutoff_at)
            if campaign.checkpoint is not None:
                query = query.where(contacts.c.phone > campaign.checkpoint)
            batch = (
                await session.execute(query.order_by(contacts.c.phone).limit(self.settings.launch_batch_size))
            ).all()
            if not batch:
                await self._finish(session, campaign, now=now)
                return 0
            account = dict(
                (await session.execute(select(accounts).where(accounts.c.id == campaign.account_id))).one()._mapping
            )
            count = await self._write_batch(session, campaign, account, batch, now=now)
            if self.before_commit is not None:
                await self.before_commit()
        self.runtime.relay.wake()
        return count

    async def _finish(self, session: AsyncSession, campaign: Any, *, now: datetime) -> None:
        refunded = await refund_unused(session, campaign, at=now, why="not needed by the recipients streamed")
        await session.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign.id)
            .values(status="dispatched", dispatched_at=now, updated_at=now)
        )
        log.info(
            "every recipient of the campaign was handed to the dispatcher",
            campaign_id=campaign.id,
            account_id=campaign.account_id,
            streamed=campaign.streamed,
            refunded_credits=refunded,
        )

    async def _write_batch(
        self, session: AsyncSession, campaign: Any, account: dict[str, Any], batch: list[Any], *, now: datetime
    ) -> int:
        composed: list[tuple[Any, str | None, int, str | None, str | None]] = []
        text: str | None
        per_segment = self.settings.credits_per_segment
        marketing = campaign.kind == "marketing"
        defaults = dict(campaign.field_defaults)
        shared_text: dict[bool, tuple[str, int]] = {}
        uses_fields = "{" in campaign.text
        for contact in batch:
            french = is_french_number(contact.phone)
            url = (
                unsubscribe_url(self.runtime, account_id=campaign.account_id, phone=contact.phone)
                if marketing and not french
                else None
            )
            try:
                if not uses_fields and url is None and french in shared_text:
                    text, segments = shared_text[french]  # same words for every French recipient
                else:
                    text = compose(
                        campaign.text,
                        kind=campaign.kind,
                        advertiser_name=account["name"],
                        short_code=campaign.sender,
                        sender=campaign.sender,
                        destination_is_french=french,
                        fields={"first_name": contact.first_name, "last_name": contact.last_name},
                        field_defaults=defaults,
                        unsubscribe_url=url,
                        account_mode=account["mode"],
                    ).text
                    segments = measure(text).segments
                    if not uses_fields and url is None:
                        shared_text[french] = (text, segments)
            except DomainError as err:
                # Nothing lawful can be sent to this recipient: reported refused, never requested.
                composed.append((contact, None, 1, err.code, url))
                continue
            composed.append((contact, text, segments, None, url))

        costs = [segments * per_segment for (_, text, segments, _, _) in composed if text is not None]
        left = int(campaign.reserved) - int(campaign.charged) - int(campaign.refunded)
        available = 0
        if sum(costs) > left:
            available = max(0, await lock_balance(session, campaign.account_id))
        allocation = allocate_batch(costs, left=left, available=available)
        if allocation.extra_reserved:
            await record_movement(
                session,
                account_id=campaign.account_id,
                kind="reservation",
                amount=allocation.extra_reserved,
                cause=f"campaign:{campaign.id}",
                key=f"campaign:{campaign.id}:batch:{campaign.batches + 1}",
                at=now,
                note="personalised texts longer than the preview",
            )
        charges = iter(allocation.charges)

        report_rows: list[dict[str, Any]] = []
        outbox_rows: list[dict[str, Any]] = []
        producer = self.settings.service_name
        for contact, text, segments, refusal, url in composed:
            request_id = request_id_for(campaign.id, contact.phone)
            consent = consent_of(contact)
            row = {
                "request_id": request_id,
                "account_id": campaign.account_id,
                "campaign_id": campaign.id,
                "purpose": "campaign",
                "phone": contact.phone,
                "kind": campaign.kind,
                "sender": campaign.sender,
                "text": text,
                "segments": segments,
                "consent": {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in consent.items()},
                "postal_code": contact.postal_code,
                "send_at": campaign.send_at,
                "requested_at": now,
            }
            if text is None:
                report_rows.append(
                    {
                        **row,
                        "charged": 0,
                        "credits_reserved": False,
                        "outcome": "refused",
                        "reason": refusal,
                        "final": True,
                        "decided_at": now,
                    }
                )
                STREAMED.labels("refused_at_composition").inc()
                continue
            charge = next(charges)
            report_rows.append(
                {
                    **row,
                    "charged": charge,
                    "credits_reserved": charge > 0,
                    "outcome": "pending",
                    "reason": None,
                    "final": False,
                    "decided_at": None,
                }
            )
            payload = DispatchRequested(
                request_id=request_id,
                account_id=campaign.account_id,
                campaign_id=campaign.id,
                phone=contact.phone,
                kind=campaign.kind,
                sender=campaign.sender,
                text=text,
                segments=segments,
                postal_code=contact.postal_code,
                consent=ConsentSnapshot(**consent),
                send_at=campaign.send_at,
                account_mode=account["mode"],
                hours_profile=account["hours_profile"],
                window_start=account["window_start"],
                window_end=account["window_end"],
                credits_reserved=charge > 0,
                unsubscribe_url=url,
                category=campaign.category,
                professions=list(campaign.professions),
                account_non_commercial=account["non_commercial"],
                requested_at=now,
            )
            envelope = envelope_for(payload, producer=producer, occurred_at=now)
            outbox_rows.append(
                {"event_id": envelope.id, "topic": payload.TYPE, "key": contact.phone, "envelope": encode(envelope)}
            )
            STREAMED.labels("requested" if charge > 0 else "requested_without_credits").inc()

        # A resumed batch never repeats (the checkpoint commits with it); this only guards the report table.
        await session.execute(
            pg_insert(recipients).on_conflict_do_nothing(index_elements=[recipients.c.request_id]), report_rows
        )
        if outbox_rows:
            await session.execute(insert(OUTBOX), outbox_rows)
        await session.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign.id)
            .values(
                checkpoint=batch[-1].phone,
                streamed=campaigns.c.streamed + len(batch),
                charged=campaigns.c.charged + allocation.total,
                reserved=campaigns.c.reserved + allocation.extra_reserved,
                batches=campaigns.c.batches + 1,
                updated_at=now,
            )
        )
        return len(batch)
