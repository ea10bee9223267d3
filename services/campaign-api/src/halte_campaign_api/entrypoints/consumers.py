"""The Kafka side of campaign-api: each consumed event handed to its handler (thin)."""

from __future__ import annotations

from halte_campaign_api.handlers import events
from halte_campaign_api.runtime import CampaignRuntime
from halte_shared.bus import BatchHandler, Delivery, Handler
from halte_shared.events import BillingCharged, Envelope, OptinRecorded, OptoutRecorded, Payload


def optouts_handler(runtime: CampaignRuntime) -> Handler:
    """Return the handler of optout.recorded and optin.recorded."""

    async def handle(envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        if isinstance(payload, OptoutRecorded):
            await events.on_optout_recorded(runtime, envelope, payload, delivery)
        elif isinstance(payload, OptinRecorded):
            await events.on_optin_recorded(runtime, envelope, payload, delivery)

    return handle


def reports_handler(runtime: CampaignRuntime) -> BatchHandler:
    """Return the batch handler of dispatch.decided, sms.outbound and sms.delivery."""

    async def handle(batch: list[tuple[Envelope, Payload, Delivery]]) -> None:
        await events.on_reports(runtime, batch)

    return handle


def billing_handler(runtime: CampaignRuntime) -> Handler:
    """Return the handler of billing.charged."""

    async def handle(envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        if isinstance(payload, BillingCharged):
            await events.on_billing_charged(runtime, envelope, payload, delivery)

    return handle
