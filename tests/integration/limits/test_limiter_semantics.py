"""What every store must do, run against each of them (conftest.STORES): the in-process
store, fakeredis, real Redis and a real Redis Cluster decide alike, number for number."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from gateway.errors import RateLimited
from gateway.limits.base import Limiter, QuotaRequest, Reservation
from gateway.tenancy.models import Limits
from tests.conftest import unique
from tests.integration.limits.conftest import FakeClock, MakeLimiter

pytestmark = pytest.mark.timeout(120)


def ask(tenant: str, tokens: int = 10, usd: str = "0", key_id: str | None = None,
        key_limits: Limits | None = None, **limits: Any) -> QuotaRequest:
    if "monthly_usd" in limits:
        limits["monthly_usd"] = Decimal(str(limits["monthly_usd"]))
    return QuotaRequest(scope=tenant, limits=Limits(**limits), tokens=tokens, usd=Decimal(usd),
                        key_id=key_id, key_limits=key_limits)


async def burst(limiter: Limiter, request: QuotaRequest, n: int) -> tuple[list[Reservation], list[RateLimited]]:
    results = await asyncio.gather(*(limiter.reserve(request) for _ in range(n)), return_exceptions=True)
    admitted = [r for r in results if isinstance(r, Reservation)]
    rejected = [r for r in results if isinstance(r, RateLimited)]
    assert len(admitted) + len(rejected) == n, [r for r in results if not isinstance(r, Reservation | RateLimited)]
    return admitted, rejected


async def admits(limiter: Limiter, request: QuotaRequest) -> bool:
    try:
        await limiter.reserve(request)
    except RateLimited:
        return False
    return True


async def rejection(limiter: Limiter, request: QuotaRequest) -> RateLimited:
    with pytest.raises(RateLimited) as caught:
        await limiter.reserve(request)
    return caught.value


# -- requests per minute ---------------------------------------------------------------

async def test_rpm_admits_exactly_the_limit_under_concurrency(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    admitted, rejected = await burst(limiter, ask(unique(), rpm=100), 300)
    assert len(admitted) == 100 and len(rejected) == 200
    assert {r.limit for r in rejected} == {"rpm"}
    assert all(r.status == 429 and r.code == "rpm_exceeded" for r in rejected)


async def test_the_window_slides_a_burst_across_a_minute_boundary_is_not_doubled(
        make_limiter: MakeLimiter, clock: FakeClock) -> None:
    """A fixed window would admit 10 at :50-:59 and 10 more at :00-:09 of the next minute."""
    limiter = make_limiter(clock=clock)
    request = ask(unique(), rpm=10)
    start = clock.now
    clock.advance(50)
    admitted_at: list[float] = []
    for _ in range(90):                       # one attempt a second from :50 to 2:19
        if await admits(limiter, request):
            admitted_at.append(clock.now - start)
        clock.advance(1)
    assert admitted_at == [*range(50, 60), *range(110, 120)]
    for t in admitted_at:                     # any 60 s span holds at most the limit
        assert sum(1 for u in admitted_at if t <= u < t + 60) <= 10


async def test_a_short_real_window_slides_on_the_stores_own_clock(make_limiter: MakeLimiter) -> None:
    """Redis's TIME (or the process clock for the in-process store), a 2 s window."""
    limiter = make_limiter(window_seconds=2.0)
    request = ask(unique(), rpm=5)
    first, _ = await burst(limiter, request, 5)
    burst_done = time.monotonic()
    assert len(first) == 5
    await asyncio.sleep(0.8)
    assert not await admits(limiter, request)          # 0.8 s later: the burst is still inside
    await asyncio.sleep(max(0.0, burst_done + 2.3 - time.monotonic()))
    second, rejected = await burst(limiter, request, 6)  # the burst has left: a full window again
    assert len(second) == 5 and len(rejected) == 1


async def test_retry_after_is_when_the_oldest_request_leaves(make_limiter: MakeLimiter, clock: FakeClock) -> None:
    limiter = make_limiter(clock=clock)
    request = ask(unique(), rpm=3)
    for _ in range(3):
        await limiter.reserve(request)
        clock.advance(10)
    error = await rejection(limiter, request)        # at t=30; the first entry (t=0) leaves at t=60
    assert error.retry_after == pytest.approx(30)
    assert error.headers["Retry-After"] == "30"
    assert error.headers["x-ratelimit-limit-requests"] == "3"
    assert error.headers["x-ratelimit-remaining-requests"] == "0"
    assert "requests per minute (rpm)" in error.message
    clock.advance(29.999)
    assert not await admits(limiter, request)
    clock.advance(0.001)
    assert await admits(limiter, request)


async def test_a_rejected_request_takes_nothing(make_limiter: MakeLimiter, clock: FakeClock) -> None:
    limiter = make_limiter(clock=clock)
    tenant = unique()
    assert (await rejection(limiter, ask(tenant, tokens=200, rpm=5, tpm=100))).limit == "tpm"
    admitted, _ = await burst(limiter, ask(tenant, tokens=20, rpm=5, tpm=100), 5)
    assert len(admitted) == 5


# -- tokens per minute -----------------------------------------------------------------

async def test_tpm_is_a_sliding_sum_and_retry_after_says_when_enough_leaves(
        make_limiter: MakeLimiter, clock: FakeClock) -> None:
    limiter = make_limiter(clock=clock)
    tenant = unique()
    for _ in range(3):                                 # 300 tokens at t=0, 10, 20
        await limiter.reserve(ask(tenant, tokens=300, tpm=1000))
        clock.advance(10)
    error = await rejection(limiter, ask(tenant, tokens=500, tpm=1000))
    assert error.limit == "tpm"
    assert error.retry_after == pytest.approx(40)      # 400 must leave: the entries of t=0 and t=10
    assert error.headers["x-ratelimit-remaining-tokens"] == "100"
    assert await admits(limiter, ask(tenant, tokens=100, tpm=1000))
    clock.advance(40)                                  # t=70: t=0 and t=10 have left
    assert await admits(limiter, ask(tenant, tokens=500, tpm=1000))


async def test_released_reservations_leaving_the_window_are_harmless(
        make_limiter: MakeLimiter, clock: FakeClock) -> None:
    """Failed calls settle to zero tokens; when only such entries leave the tpm window the
    store frees nothing (a regression: Redis refused the script's "-0" as an integer)."""
    limiter = make_limiter(clock=clock)
    tenant = unique()
    for _ in range(3):
        reservation = await limiter.reserve(ask(tenant, tokens=300, tpm=1000))
        await limiter.settle(reservation, 0, Decimal(0))
    clock.advance(61)
    assert await admits(limiter, ask(tenant, tokens=900, tpm=1000))


async def test_a_request_larger_than_the_limit_is_told_so(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    error = await rejection(limiter, ask(unique(), tokens=2000, tpm=1000))
    assert error.limit == "tpm" and "too large" in error.message
    assert error.retry_after == pytest.approx(60)


# -- calendar periods ------------------------------------------------------------------

async def test_rpd_resets_at_midnight_utc(make_limiter: MakeLimiter, clock: FakeClock) -> None:
    clock.set(datetime(2025, 6, 10, 23, 59, 50, tzinfo=UTC))
    limiter = make_limiter(clock=clock)
    request = ask(unique(), rpd=3)
    admitted, rejected = await burst(limiter, request, 5)
    assert len(admitted) == 3 and len(rejected) == 2
    assert rejected[0].limit == "rpd" and rejected[0].retry_after == pytest.approx(10)
    clock.advance(10)
    admitted, _ = await burst(limiter, request, 5)
    assert len(admitted) == 3


async def test_daily_tokens_count_settled_usage_and_reset_at_midnight(
        make_limiter: MakeLimiter, clock: FakeClock) -> None:
    clock.set(datetime(2025, 6, 10, 23, 0, 0, tzinfo=UTC))
    limiter = make_limiter(clock=clock)
    tenant = unique()
    first = await limiter.reserve(ask(tenant, tokens=600, daily_tokens=1000))
    await limiter.settle(first, 250, Decimal(0))
    assert await admits(limiter, ask(tenant, tokens=750, daily_tokens=1000))
    error = await rejection(limiter, ask(tenant, tokens=1, daily_tokens=1000))
    assert error.limit == "daily_tokens" and error.retry_after == pytest.approx(3600)
    clock.set(datetime(2025, 6, 11, 0, 0, 0, tzinfo=UTC))
    assert await admits(limiter, ask(tenant, tokens=1000, daily_tokens=1000))


async def test_the_monthly_budget_is_per_calendar_month_utc(make_limiter: MakeLimiter, clock: FakeClock) -> None:
    clock.set(datetime(2025, 12, 31, 23, 59, 0, tzinfo=UTC))
    limiter = make_limiter(clock=clock)
    tenant = unique()
    assert await admits(limiter, ask(tenant, usd="0.75", monthly_usd=1))
    error = await rejection(limiter, ask(tenant, usd="0.25000001", monthly_usd=1))
    assert error.limit == "monthly_usd" and error.code == "monthly_usd_exceeded"
    assert error.retry_after == pytest.approx(60)      # January starts in a minute
    assert "$0.75" in error.message
    assert await admits(limiter, ask(tenant, usd="0.25", monthly_usd=1))     # exactly the budget
    clock.set(datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC))
    assert await admits(limiter, ask(tenant, usd="1", monthly_usd=1))


async def test_budget_under_concurrency_admits_what_fits_and_spend_never_exceeds_it(
        make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    tenant = unique()
    cost = Decimal("0.0123")
    request = ask(tenant, usd=str(cost), monthly_usd=cost * 10)
    admitted, rejected = await burst(limiter, request, 50)
    assert len(admitted) == 10 and len(rejected) == 40
    assert {r.limit for r in rejected} == {"monthly_usd"}
    for reservation in admitted:                     # each actually cost 0.0100 of its 0.0123
        await limiter.settle(reservation, 0, Decimal("0.0100"))
    # settled spend 0.100 of 0.123: room for exactly one more reservation of 0.0123
    admitted, rejected = await burst(limiter, request, 50)
    assert len(admitted) == 1 and len(rejected) == 49
    assert "in use $0.1123" in rejected[0].message


# -- settlement ------------------------------------------------------------------------

async def test_usage_below_the_reservation_returns_the_difference(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    tenant = unique()
    reservation = await limiter.reserve(ask(tenant, tokens=800, tpm=1000, daily_tokens=1000))
    await limiter.settle(reservation, 300, Decimal(0))
    assert reservation.settled
    assert await admits(limiter, ask(tenant, tokens=700, tpm=1000, daily_tokens=1000))
    assert (await rejection(limiter, ask(tenant, tokens=1, tpm=1000, daily_tokens=1000))).limit in {"tpm",
                                                                                                  "daily_tokens"}


async def test_a_failed_call_releases_everything_it_reserved(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    tenant = unique()
    limits: dict[str, Any] = {"tpm": 1000, "daily_tokens": 1000, "monthly_usd": 1}
    reservation = await limiter.reserve(ask(tenant, tokens=1000, usd="1", **limits))
    await limiter.settle(reservation, 0, Decimal(0))
    assert await admits(limiter, ask(tenant, tokens=1000, usd="1", **limits))


async def test_settling_twice_counts_once(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    tenant = unique()
    reservation = await limiter.reserve(ask(tenant, tokens=800, tpm=1000))
    await limiter.settle(reservation, 300, Decimal(0))
    reservation.settled = False                       # as if a retried settle came in again
    await limiter.settle(reservation, 300, Decimal(0))
    assert await admits(limiter, ask(tenant, tokens=700, tpm=1000))
    assert not await admits(limiter, ask(tenant, tokens=1, tpm=1000))


async def test_usage_above_the_estimate_is_charged(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    tenant = unique()
    reservation = await limiter.reserve(ask(tenant, tokens=100, tpm=1000))
    await limiter.settle(reservation, 900, Decimal(0))
    assert not await admits(limiter, ask(tenant, tokens=101, tpm=1000))
    assert await admits(limiter, ask(tenant, tokens=100, tpm=1000))


async def test_a_late_settlement_leaves_the_window_alone_and_still_counts_for_the_day(
        make_limiter: MakeLimiter, clock: FakeClock) -> None:
    limiter = make_limiter(clock=clock)
    tenant = unique()
    limits: dict[str, Any] = {"tpm": 1000, "daily_tokens": 2000}
    reservation = await limiter.reserve(ask(tenant, tokens=800, **limits))
    clock.advance(61)                                 # a long stream: its entry left the window
    await limiter.settle(reservation, 100, Decimal(0))
    assert await admits(limiter, ask(tenant, tokens=1000, **limits))
    assert await admits(limiter, ask(tenant, tokens=900, tpm=2000, daily_tokens=2000))   # 100 + 1000 + 900
    assert not await admits(limiter, ask(tenant, tokens=1, tpm=2000, daily_tokens=2000))


# -- per-key limits, headers -----------------------------------------------------------

async def test_a_keys_own_limits_count_for_that_key_and_the_tenants_for_all(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    tenant = unique()
    for_a = ask(tenant, rpm=3, key_id="key_a", key_limits=Limits(rpm=2))
    for_b = ask(tenant, rpm=3, key_id="key_b", key_limits=Limits(rpm=2))
    admitted, rejected = await burst(limiter, for_a, 3)
    assert len(admitted) == 2 and "this API key" in rejected[0].message
    assert await admits(limiter, for_b)
    error = await rejection(limiter, for_b)            # key b has room; the tenant has not
    assert error.limit == "rpm" and f"tenant '{tenant}'" in error.message


async def test_headers_show_the_tightest_window(make_limiter: MakeLimiter, clock: FakeClock) -> None:
    limiter = make_limiter(clock=clock)
    reservation = await limiter.reserve(ask(unique(), tokens=100, rpm=10, rpd=100, tpm=1000, daily_tokens=500))
    assert reservation.requests is not None and reservation.tokens is not None
    assert (reservation.requests.limit, reservation.requests.remaining) == (10, 9)
    assert reservation.requests.reset_seconds == pytest.approx(60)
    assert (reservation.tokens.limit, reservation.tokens.remaining) == (500, 400)   # the day's is tighter
    assert reservation.tokens.reset_seconds == pytest.approx(12 * 3600)             # noon: midnight in 12 h


async def test_no_limits_means_no_state_and_no_headers(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    reservation = await limiter.reserve(ask(unique()))
    assert reservation.requests is None and reservation.tokens is None
    await limiter.settle(reservation, 10, Decimal(0))
