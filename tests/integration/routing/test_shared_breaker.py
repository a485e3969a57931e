"""Two replicas (two breaker boards) on one real Redis share each breaker: one's failures
open it for both, their counts add up, half-open probes are shared, and each transition is
counted once. Without Redis a board goes on alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from gateway.routing.breaker import BreakerBoard, CallOutcome, State
from gateway.routing.breaker_sync import share
from gateway.routing.policy import BreakerPolicy
from tests.conftest import unique
from tests.integration.routing.helpers import fail

POLICY = BreakerPolicy(failure_rate=0.5, min_requests=4, window_seconds=30, cooldown_seconds=0.6,
                       half_open_probes=1, sync_seconds=0.1)


async def wait_until(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def transitions(provider: str, to: str) -> float:
    return REGISTRY.get_sample_value("gateway_circuit_transitions_total", {"provider": provider, "to": to}) or 0.0


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[BreakerBoard, BreakerBoard, str]]:
    provider = unique("prov")
    prefix = f"gw:breaker:test:{unique()}"
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    boards = [share(BreakerBoard(POLICY, identities={provider: provider}), c, prefix=prefix) for c in clients]
    for board in boards:
        board.breaker(provider, "m")
        await board.start()
    try:
        yield boards[0], boards[1], provider
    finally:
        for board in boards:
            await board.close()
        keys = [k async for k in clients[0].scan_iter(match=prefix + ":*")]
        if keys:
            await clients[0].delete(*keys)
        for client in clients:
            await client.aclose()


async def test_one_replicas_failures_open_the_breaker_for_both(
        replicas: tuple[BreakerBoard, BreakerBoard, str]) -> None:
    a, b, provider = replicas
    await fail(a, provider, 4)
    assert a.breaker(provider, "m").state is State.OPEN
    await wait_until(lambda: b.breaker(provider, "m").state is State.OPEN, 1.0)
    assert await b.acquire(provider, "m") is None          # b never saw a failure itself
    await wait_until(lambda: transitions(provider, "open") == 1)
    await asyncio.sleep(0.3)                               # a few syncs later: still counted once
    assert transitions(provider, "open") == 1


async def test_counts_from_both_replicas_add_up(replicas: tuple[BreakerBoard, BreakerBoard, str]) -> None:
    a, b, provider = replicas
    await fail(a, provider, 2)
    await fail(b, provider, 2)                             # neither alone reaches min_requests
    await wait_until(lambda: a.breaker(provider, "m").state is State.OPEN
                     and b.breaker(provider, "m").state is State.OPEN)
    assert transitions(provider, "open") == 1


async def test_half_open_probes_are_shared_and_a_success_closes_both(
        replicas: tuple[BreakerBoard, BreakerBoard, str]) -> None:
    a, b, provider = replicas
    await fail(a, provider, 4)
    await wait_until(lambda: b.breaker(provider, "m").state is State.OPEN)
    await asyncio.sleep(POLICY.cooldown_seconds + 0.05)
    probe = await a.acquire(provider, "m")
    assert probe is not None and probe.probe
    assert await b.acquire(provider, "m") is None          # the one probe slot is taken, by a
    probe.release(CallOutcome.SUCCESS)
    await wait_until(lambda: a.breaker(provider, "m").state is State.CLOSED
                     and b.breaker(provider, "m").state is State.CLOSED)
    assert transitions(provider, "half_open") == 1 and transitions(provider, "closed") == 1
    permit = await b.acquire(provider, "m")
    assert permit is not None and not permit.probe


async def test_a_failed_probe_reopens_for_both(replicas: tuple[BreakerBoard, BreakerBoard, str]) -> None:
    a, b, provider = replicas
    await fail(a, provider, 4)
    await asyncio.sleep(POLICY.cooldown_seconds + 0.05)
    probe = await b.acquire(provider, "m")
    assert probe is not None and probe.probe
    probe.release(CallOutcome.FAILURE)
    await wait_until(lambda: transitions(provider, "open") == 2)
    await wait_until(lambda: a.breaker(provider, "m").state is State.OPEN
                     and a.breaker(provider, "m").gen == b.breaker(provider, "m").gen)
    assert await a.acquire(provider, "m") is None


async def test_without_reachable_redis_a_board_goes_on_alone() -> None:
    provider = unique("prov")
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    board = share(BreakerBoard(POLICY, identities={provider: provider}), client)
    await board.start()
    try:
        await fail(board, provider, 4)
        assert board.breaker(provider, "m").state is State.OPEN
        assert await board.acquire(provider, "m") is None
        await asyncio.sleep(POLICY.cooldown_seconds + 0.05)
        probe = await board.acquire(provider, "m")       # the claim cannot reach Redis: probe anyway
        assert probe is not None and probe.probe
        probe.release(CallOutcome.SUCCESS)                   # and it closes on this replica's say-so
        assert board.breaker(provider, "m").state is State.CLOSED
    finally:
        await board.close()
        await client.aclose()
