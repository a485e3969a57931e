"""The limiter interface. The quota stage reserves before the call; the charge stage
settles the reservation with actual usage (or releases it) after."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal

from gateway.tenancy.models import Limits


@dataclass(frozen=True, slots=True)
class QuotaRequest:
    scope: str                 # the tenant's name: every key of one check shares it
    limits: Limits
    tokens: int                # estimated prompt tokens + max_tokens
    usd: Decimal = Decimal(0)  # estimated cost, reserved against the monthly budget
    key_id: str | None = None  # the API key, when it has limits of its own
    key_limits: Limits | None = None   # counted for this key alone, on top of the tenant's


@dataclass(frozen=True, slots=True)
class Window:
    """One limit's state after a check, for OpenAI's x-ratelimit-* headers."""

    limit: int
    remaining: int
    reset_seconds: float


@dataclass(slots=True)
class Reservation:
    request: QuotaRequest
    requests: Window | None = None
    tokens: Window | None = None
    settled: bool = False
    handle: object = field(default=None)   # store-specific (e.g. the member ids to adjust)


class LimiterUnavailable(Exception):
    """The shared store (Redis) could not be reached; the caller decides: fail open or closed."""


class Limiter(ABC):
    @abstractmethod
    async def reserve(self, request: QuotaRequest) -> Reservation:
        """Admits the request and reserves its tokens and cost, or raises RateLimited."""

    @abstractmethod
    async def settle(self, reservation: Reservation, tokens: int, usd: Decimal) -> None:
        """Replaces the reservation with actual usage (0, 0 releases it). Idempotent."""

    async def close(self) -> None:
        """Releases connections."""
