"""In-process limiter for the embedded default (one process): exact sliding windows."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal

from gateway.errors import RateLimited
from gateway.limits.base import Limiter, QuotaRequest, Reservation, Window

MINUTE = 60.0


class MemoryLimiter(Limiter):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._requests: dict[str, deque[float]] = {}

    async def reserve(self, request: QuotaRequest) -> Reservation:
        now = self._clock()
        reservation = Reservation(request=request)
        rpm = request.limits.rpm
        if rpm is not None:
            window = self._requests.setdefault(request.scope, deque())
            while window and window[0] <= now - MINUTE:
                window.popleft()
            if len(window) >= rpm:
                retry_after = window[0] + MINUTE - now if window else MINUTE
                raise RateLimited(f"Rate limit reached for requests per minute ({rpm}). "
                                  f"Retry in {retry_after:.1f}s.", limit="rpm", retry_after=retry_after)
            window.append(now)
            reset = window[0] + MINUTE - now
            reservation.requests = Window(limit=rpm, remaining=rpm - len(window), reset_seconds=reset)
        return reservation

    async def settle(self, reservation: Reservation, tokens: int, usd: Decimal) -> None:
        reservation.settled = True
