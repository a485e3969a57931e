"""Redis unreachable: fail_open falls back to this process's own limits, fail_closed answers
503; one warning and the degraded gauge per outage; Redis is tried again once per recheck
interval and shared limits resume by themselves."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from gateway.errors import RateLimited, ServiceUnavailable
from gateway.limits.base import Limiter, LimiterUnavailable, QuotaRequest, Reservation
from gateway.limits.failover import FailoverLimiter
from gateway.limits.memory import MemoryLimiter
from gateway.limits.plan import Handle, make_plan
from gateway.settings import RedisFailureMode
from gateway.telemetry import metrics
from gateway.tenancy.models import Limits


class SwitchableShared(Limiter):
    """Stands in for the Redis store: up or down as the test says, counting calls."""

    def __init__(self) -> None:
        self.up = True
        self.reserves = 0
        self.settled: list[int] = []

    async def reserve(self, request: QuotaRequest) -> Reservation:
        self.reserves += 1
        if not self.up:
            raise LimiterUnavailable("gw:rl:v1:reserve: ConnectionError")
        if request.limits.rpm == 0:
            raise RateLimited("no", limit="rpm", retry_after=1)
        return Reservation(request=request, handle=Handle(make_plan(request, 0), "redis"))

    async def settle(self, reservation: Reservation, tokens: int, usd: Decimal) -> None:
        if not self.up:
            raise LimiterUnavailable("gw:rl:v1:settle: ConnectionError")
        self.settled.append(tokens)
        reservation.settled = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def request(rpm: int = 2) -> QuotaRequest:
    return QuotaRequest(scope="acme", limits=Limits(rpm=rpm), tokens=5)


def degraded_gauge() -> float:
    value: float = metrics.RATELIMIT_DEGRADED._value.get()  # type: ignore[attr-defined]
    return value


def limiter(mode: RedisFailureMode) -> tuple[FailoverLimiter, SwitchableShared, Clock]:
    shared, clock = SwitchableShared(), Clock()
    return FailoverLimiter(shared, MemoryLimiter(), mode, recheck_seconds=1.0, clock=clock), shared, clock


async def test_fail_open_enforces_the_limits_locally_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    failover, shared, clock = limiter(RedisFailureMode.FAIL_OPEN)
    shared.up = False
    with caplog.at_level(logging.WARNING, logger="gateway.limits"):
        first = await failover.reserve(request())
        second = await failover.reserve(request())
        with pytest.raises(RateLimited):                  # the local limit holds: rpm 2
            await failover.reserve(request())
    assert isinstance(first.handle, Handle) and first.handle.origin == "memory"
    assert second.requests is not None and second.requests.remaining == 0
    assert shared.reserves == 1                           # no probe before the recheck interval
    assert failover.degraded and degraded_gauge() == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "fail_open" in warnings[0].getMessage()

    await failover.settle(first, 3, Decimal(0))           # a local reservation settles locally
    assert first.settled and shared.settled == []

    shared.up = True
    clock.now += 1.0
    back = await failover.reserve(request())
    assert isinstance(back.handle, Handle) and back.handle.origin == "redis"
    assert not failover.degraded and degraded_gauge() == 0
    await failover.settle(back, 4, Decimal(0))
    assert shared.settled == [4]


async def test_fail_closed_answers_503_until_redis_returns() -> None:
    failover, shared, clock = limiter(RedisFailureMode.FAIL_CLOSED)
    shared.up = False
    for _ in range(3):
        with pytest.raises(ServiceUnavailable) as caught:
            await failover.reserve(request())
        assert caught.value.status == 503 and caught.value.code == "ratelimit_unavailable"
        assert caught.value.headers["Retry-After"] == "1"
    assert shared.reserves == 1
    clock.now += 1.0
    with pytest.raises(ServiceUnavailable):               # the probe finds it still down
        await failover.reserve(request())
    assert shared.reserves == 2
    shared.up = True
    clock.now += 1.0
    await failover.reserve(request())
    assert not failover.degraded


async def test_a_rate_limit_from_redis_is_an_answer_not_an_outage() -> None:
    failover, _, _ = limiter(RedisFailureMode.FAIL_OPEN)
    with pytest.raises(RateLimited):
        await failover.reserve(request(rpm=0))
    assert not failover.degraded


async def test_a_settlement_that_cannot_reach_redis_marks_the_outage_and_does_not_raise() -> None:
    failover, shared, _ = limiter(RedisFailureMode.FAIL_OPEN)
    reservation = await failover.reserve(request())
    shared.up = False
    await failover.settle(reservation, 1, Decimal(0))
    assert failover.degraded and not reservation.settled
    shared.up = True
    await failover.reserve(request(rpm=5))                # still within the recheck interval: local
    assert failover.degraded
