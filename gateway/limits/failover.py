"""Shared limits (Redis) with a plan for when Redis cannot be reached.

fail_open: this process enforces the limits on its own (its in-process store), so each
replica admits up to the full limit until Redis is back. fail_closed: 503 until then.
Either way the state shows in `gateway_ratelimit_degraded` and one warning log line per
outage. Redis is tried again at most every `recheck_seconds` (by one request; the rest
take the degraded path meanwhile), so recovery is automatic and an outage does not make
every request wait for a connect timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal

from gateway.errors import ServiceUnavailable, retry_after_header
from gateway.limits.base import Limiter, LimiterUnavailable, QuotaRequest, Reservation
from gateway.limits.plan import Handle
from gateway.settings import RedisFailureMode
from gateway.telemetry import metrics

log = logging.getLogger("gateway.limits")


class FailoverLimiter(Limiter):
    def __init__(self, shared: Limiter, local: Limiter, mode: RedisFailureMode, *, recheck_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._shared = shared
        self._local = local
        self._mode = mode
        self._recheck = recheck_seconds
        self._clock = clock
        self._down_since: float | None = None
        self._next_try = 0.0

    @property
    def degraded(self) -> bool:
        return self._down_since is not None

    async def reserve(self, request: QuotaRequest) -> Reservation:
        now = self._clock()
        if self._down_since is None or now >= self._next_try:
            self._next_try = now + self._recheck      # while down: one probe per interval
            try:
                reservation = await self._shared.reserve(request)
            except LimiterUnavailable as exc:
                self._went_down(exc)
            else:
                self._came_back()
                return reservation
        if self._mode is RedisFailureMode.FAIL_CLOSED:
            raise ServiceUnavailable("Rate limits cannot be checked right now; retry shortly.",
                                     code="ratelimit_unavailable",
                                     headers=retry_after_header(self._recheck))
        return await self._local.reserve(request)

    async def settle(self, reservation: Reservation, tokens: int, usd: Decimal) -> None:
        handle = reservation.handle
        store = self._local if isinstance(handle, Handle) and handle.origin == "memory" else self._shared
        try:
            await store.settle(reservation, tokens, usd)
        except LimiterUnavailable as exc:
            # What it reserved stays counted until its windows pass: never under-counted.
            self._went_down(exc)

    async def close(self) -> None:
        await self._shared.close()
        await self._local.close()

    def _went_down(self, exc: LimiterUnavailable) -> None:
        if self._down_since is not None:
            return
        self._down_since = self._clock()
        self._next_try = self._down_since + self._recheck
        metrics.RATELIMIT_DEGRADED.set(1)
        what = ("enforcing limits in this process only (fail_open)" if self._mode is RedisFailureMode.FAIL_OPEN
                else "refusing requests with 503 (fail_closed)")
        log.warning("rate-limit store unreachable (%s); %s until it returns", exc, what)

    def _came_back(self) -> None:
        if self._down_since is None:
            return
        log.warning("rate-limit store reachable again after %.1fs; shared limits resume",
                    self._clock() - self._down_since)
        self._down_since = None
        metrics.RATELIMIT_DEGRADED.set(0)
