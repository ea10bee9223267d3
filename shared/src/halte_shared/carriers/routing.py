"""Which carrier takes an SMS, how fast, and what happens when it says "later".

- **Routes**: a table of E.164 prefixes (``HALTE_CARRIER_ROUTES="+33=sim,+44=kannel"``);
  the longest prefix matching the destination wins, and the default carrier takes the rest.
- **Rate**: each carrier has a token bucket (messages per second, with a burst); a
  submission waits for its token, so a campaign never exceeds what the carrier agreed to.
- **Retries**: a temporary error (throttled, timeout, connection) is retried with
  exponential backoff and jitter, a bounded number of times, honouring the carrier's
  Retry-After hint. A permanent refusal is not retried. An error after which the carrier
  may hold the message anyway (``outcome_unknown``) is retried only on a carrier that
  honours our idempotency key; elsewhere a resend could put a second SMS on the phone.

:meth:`CarrierRouter.submit` never raises a carrier error: it returns a
:class:`~halte_shared.carriers.base.SubmitResult` whose ``accepted``, ``retryable`` and
``outcome_unknown`` tell the caller what to do next.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

import structlog

from halte_shared.carriers import metrics
from halte_shared.carriers.base import (
    CarrierAdapter,
    CarrierPermanentError,
    CarrierTemporaryError,
    OutboundSms,
    SubmitResult,
)

log = structlog.get_logger("halte.carriers.routing")

Sleep = Callable[[float], Awaitable[None]]
MonotonicClock = Callable[[], float]

_PREFIX = re.compile(r"^\+\d{1,15}$")
CARRIER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class RoutingError(ValueError):
    """A route table or carrier configuration that cannot work; the message names the culprit."""


@dataclass(frozen=True, slots=True)
class RouteTable:
    """E.164 prefixes and the carrier each goes to, with a default for everything else."""

    default: str
    routes: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, spec: str, *, default: str) -> RouteTable:
        """Parse ``"+33=sim,+44=kannel"`` (spaces allowed; an empty spec routes everything to default)."""
        if not CARRIER_NAME.match(default):
            raise RoutingError(f"default carrier {default!r} is not a valid carrier name")
        routes: dict[str, str] = {}
        for entry in (part.strip() for part in spec.split(",")):
            if not entry:
                continue
            prefix, sep, carrier = (s.strip() for s in entry.partition("="))
            if not sep:
                raise RoutingError(f"route {entry!r} must read +<prefix>=<carrier>")
            if not _PREFIX.match(prefix):
                raise RoutingError(f"route {entry!r}: the prefix must be '+' and 1 to 15 digits")
            if not CARRIER_NAME.match(carrier):
                raise RoutingError(f"route {entry!r}: {carrier!r} is not a valid carrier name")
            if prefix in routes and routes[prefix] != carrier:
                raise RoutingError(f"prefix {prefix} is routed twice ({routes[prefix]} and {carrier})")
            routes[prefix] = carrier
        ordered = tuple(sorted(routes.items(), key=lambda item: (-len(item[0]), item[0])))
        return cls(default=default, routes=ordered)

    def carrier_for(self, phone: str) -> str:
        """Return the carrier of a destination: the longest matching prefix, else the default."""
        for prefix, carrier in self.routes:  # longest first
            if phone.startswith(prefix):
                return carrier
        return self.default

    def carriers(self) -> set[str]:
        """Return every carrier the table names."""
        return {self.default, *(carrier for _, carrier in self.routes)}


class TokenBucket:
    """Admit at most `rate` events per second on average, with bursts of up to `burst`.

    A reservation takes its token at once, even if that puts the bucket in debt, and
    says how long to wait: callers are served in arrival order and never stampede.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("a rate limit must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._updated = clock()

    def reserve(self, tokens: float = 1.0) -> float:
        """Take `tokens` and return how many seconds to wait before using them."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        self._tokens -= tokens
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self) -> float:
        """Wait for a token; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)
        return wait


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter for temporary carrier errors."""

    max_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.2

    def delay(self, attempt: int, *, retry_after: float | None = None) -> float:
        """Return the pause after failed attempt number `attempt` (1-based)."""
        backoff = min(self.max_delay, self.base_delay * self.multiplier ** (attempt - 1))
        backoff *= 1 + random.uniform(-self.jitter, self.jitter)
        if retry_after is not None:
            backoff = max(backoff, min(retry_after, self.max_delay * 4))
        return max(0.0, backoff)


class CarrierRouter:
    """Pick the carrier of each SMS, respect its rate, retry what can be retried."""

    def __init__(
        self,
        adapters: Mapping[str, CarrierAdapter],
        routes: RouteTable,
        *,
        limits: Mapping[str, TokenBucket] | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        missing = routes.carriers() - set(adapters)
        if missing:
            raise RoutingError(f"routes name carriers that are not configured: {', '.join(sorted(missing))}")
        self.adapters = dict(adapters)
        self.routes = routes
        self.limits = dict(limits or {})
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    async def start(self) -> None:
        """Start every adapter (connections, binds)."""
        for adapter in self.adapters.values():
            await adapter.start()

    async def close(self) -> None:
        """Close every adapter."""
        for adapter in self.adapters.values():
            try:
                await adapter.close()
            except Exception as exc:
                log.warning("a carrier adapter did not close cleanly", carrier=adapter.name, error=repr(exc))

    async def ready(self) -> dict[str, bool]:
        """Return each carrier's readiness."""
        return {name: await adapter.ready() for name, adapter in self.adapters.items()}

    def carrier_for(self, phone: str) -> str:
        """Return the carrier that takes SMS to this number."""
        return self.routes.carrier_for(phone)

    async def submit(
        self, sms: OutboundSms, *, carrier: str | None = None, max_attempts: int | None = None
    ) -> SubmitResult:
        """Hand an SMS to its carrier (or `carrier`), retrying temporary errors; never raises carrier errors."""
        name = carrier or self.routes.carrier_for(sms.to)
        adapter = self.adapters.get(name)
        if adapter is None:
            raise RoutingError(f"carrier {name!r} is not configured")
        limit = self.limits.get(name)
        budget = max_attempts or self.retry.max_attempts
        attempt = 0
        while True:
            attempt += 1
            if limit is not None:
                metrics.RATE_LIMIT_WAIT_SECONDS.labels(name).observe(await limit.acquire())
            started = time.perf_counter()
            try:
                result = await adapter.submit(sms)
            except CarrierPermanentError as exc:
                metrics.SUBMIT_SECONDS.labels(name).observe(time.perf_counter() - started)
                metrics.ERRORS.labels(name, "permanent", exc.code or "").inc()
                metrics.SUBMISSIONS.labels(name, "rejected").inc()
                log.warning("carrier rejected the message", carrier=name, message_id=sms.message_id, error=str(exc))
                return SubmitResult(
                    carrier=name,
                    carrier_message_id=None,
                    accepted=False,
                    retryable=False,
                    error=str(exc),
                    error_code=exc.code,
                    attempts=attempt,
                )
            except CarrierTemporaryError as exc:
                metrics.SUBMIT_SECONDS.labels(name).observe(time.perf_counter() - started)
                metrics.ERRORS.labels(name, "throttled" if exc.throttled else "temporary", exc.code or "").inc()
                unknown = exc.outcome_unknown
                if unknown and not adapter.honours_idempotency_key:
                    metrics.SUBMISSIONS.labels(name, "outcome_unknown").inc()
                    log.error(
                        "the carrier may or may not have the message; not resending, to avoid a duplicate SMS",
                        carrier=name,
                        message_id=sms.message_id,
                        error=str(exc),
                    )
                    return self._failure(name, exc, attempt=attempt, retryable=False)
                if attempt >= budget:
                    metrics.SUBMISSIONS.labels(name, "failed_temporary").inc()
                    log.warning(
                        "carrier still failing after every attempt; the message can be retried later",
                        carrier=name,
                        message_id=sms.message_id,
                        attempts=attempt,
                        error=str(exc),
                    )
                    return self._failure(name, exc, attempt=attempt, retryable=True)
                pause = self.retry.delay(attempt, retry_after=exc.retry_after)
                metrics.RETRIES.labels(name).inc()
                log.info(
                    "carrier failed temporarily; retrying",
                    carrier=name,
                    message_id=sms.message_id,
                    attempt=attempt,
                    retry_in_seconds=round(pause, 3),
                    error=str(exc),
                )
                await self._sleep(pause)
                continue
            except Exception as exc:
                # An adapter bug: we cannot tell whether the carrier has the message.
                metrics.ERRORS.labels(name, "unexpected", type(exc).__name__).inc()
                log.exception("carrier adapter failed unexpectedly", carrier=name, message_id=sms.message_id)
                unexpected = CarrierTemporaryError(repr(exc), carrier=name, code="unexpected", outcome_unknown=True)
                metrics.SUBMISSIONS.labels(name, "outcome_unknown").inc()
                return self._failure(name, unexpected, attempt=attempt, retryable=adapter.honours_idempotency_key)
            metrics.SUBMIT_SECONDS.labels(name).observe(time.perf_counter() - started)
            metrics.SUBMISSIONS.labels(name, "duplicate" if result.duplicate else "accepted").inc()
            return replace(result, attempts=attempt)

    @staticmethod
    def _failure(name: str, exc: CarrierTemporaryError, *, attempt: int, retryable: bool) -> SubmitResult:
        return SubmitResult(
            carrier=name,
            carrier_message_id=None,
            accepted=False,
            retryable=retryable,
            error=str(exc),
            error_code=exc.code,
            outcome_unknown=exc.outcome_unknown,
            attempts=attempt,
        )
