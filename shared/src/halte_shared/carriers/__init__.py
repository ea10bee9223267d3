"""Carrier adapters shared by the dispatcher and the notifier: one implementation, three carriers.

Start here: :func:`build_router` (from settings) gives a :class:`CarrierRouter` whose
``submit(OutboundSms)`` returns a :class:`SubmitResult`. See ``base`` for the port,
``routing`` for routes/rate/retries, ``registry`` for configuration, and ``sim_adapter``,
``kannel``, ``smpp`` for the three carriers; ``simulator`` is the embedded carrier itself.
"""

from halte_shared.carriers.base import (
    CarrierAdapter,
    CarrierError,
    CarrierPermanentError,
    CarrierTemporaryError,
    DeliveryReport,
    MobileOriginated,
    OutboundSms,
    SubmitResult,
)
from halte_shared.carriers.kannel import KannelAdapter
from halte_shared.carriers.registry import build_router, inbound_secrets, parse_carriers
from halte_shared.carriers.routing import CarrierRouter, RetryPolicy, RouteTable, RoutingError, TokenBucket
from halte_shared.carriers.sim_adapter import SimulatorAdapter
from halte_shared.carriers.smpp import SmppAdapter
from halte_shared.carriers.webhooks import InboundForwarder

__all__ = [
    "CarrierAdapter",
    "CarrierError",
    "CarrierPermanentError",
    "CarrierRouter",
    "CarrierTemporaryError",
    "DeliveryReport",
    "InboundForwarder",
    "KannelAdapter",
    "MobileOriginated",
    "OutboundSms",
    "RetryPolicy",
    "RouteTable",
    "RoutingError",
    "SimulatorAdapter",
    "SmppAdapter",
    "SubmitResult",
    "TokenBucket",
    "build_router",
    "inbound_secrets",
    "parse_carriers",
]
