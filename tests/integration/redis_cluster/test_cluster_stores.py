"""The stores that share state through Redis, on a real three-node cluster through the
cluster client: the usage stream (consumer group, claim from a dead consumer) drains into
PostgreSQL, and two breaker boards share one breaker (scripts, pipelined sync, pub/sub)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from redis.asyncio import RedisCluster
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.redis_client import SHARED, Client, command_client
from gateway.routing.breaker import BreakerBoard, CallOutcome, State
from gateway.routing.breaker_sync import SharedBreakers, share
from gateway.routing.policy import BreakerPolicy
from gateway.usage.record import UsageRecord
from gateway.usage.redis_outbox import RedisStreamOutbox, StreamConfig
from gateway.usage.tables import usage_records
from tests.conftest import unique
from tests.integration.routing.helpers import fail
from tests.support.redis_cluster import RedisClusterNodes


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


# -- the usage stream -----------------------------------------------------------------

@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL only (the root conftest's `engine` opens it)."""
    return postgres_url


def records(tenant: str, n: int) -> list[UsageRecord]:
    return [UsageRecord(request_id=f"{tenant}-{i}", tenant=tenant, status="ok", http_status=200, model="m",
                        provider="p", prompt_tokens=10, completion_tokens=i, cost_usd=Decimal("0.000001"))
            for i in range(n)]


async def row_count(engine: AsyncEngine, tenant: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(usage_records)
                                       .where(usage_records.c.tenant == tenant))).scalar_one())


def stream_config(consumer: str, **overrides: Any) -> StreamConfig:
    values: dict[str, Any] = {"key": f"gw:usage:test:{unique()}", "group": unique("group"), "consumer": consumer,
                              "interval": 0.05, **overrides}
    return StreamConfig(**values)


async def test_the_usage_stream_drains_into_postgres_and_empties(engine: AsyncEngine, cluster_client: Client) -> None:
    tenant = unique()
    config = stream_config("c1")
    outbox = RedisStreamOutbox(cluster_client, engine, config)
    await outbox.start()
    try:
        for record in records(tenant, 40):
            await outbox.append(record)

        async def drained() -> bool:
            return await row_count(engine, tenant) == 40 and int(await cluster_client.xlen(config.key)) == 0
        await eventually(drained)
    finally:
        await outbox.close()


async def test_entries_a_dead_consumer_left_pending_are_claimed_on_the_cluster(
        engine: AsyncEngine, cluster_client: Client) -> None:
    tenant = unique()
    config = stream_config("writer")
    writer = RedisStreamOutbox(cluster_client, engine, config)          # appends only, never started
    for record in records(tenant, 20):
        await writer.append(record)
    await cluster_client.xgroup_create(config.key, config.group, id="0")
    read: Any = await cluster_client.xreadgroup(config.group, "dead-replica", {config.key: ">"}, count=100)
    assert len(read[0][1]) == 20                                        # read, never acknowledged

    survivor = RedisStreamOutbox(cluster_client, engine, StreamConfig(
        key=config.key, group=config.group, consumer="survivor", interval=0.05, claim_idle=0.3))
    await survivor.start()
    try:
        async def claimed_and_written() -> bool:
            pending = await cluster_client.xpending(config.key, config.group)
            return await row_count(engine, tenant) == 20 and int(pending["pending"]) == 0
        await eventually(claimed_and_written)
    finally:
        await survivor.close()


# -- the circuit breakers -------------------------------------------------------------

POLICY = BreakerPolicy(failure_rate=0.5, min_requests=4, window_seconds=30, cooldown_seconds=0.6,
                       half_open_probes=1, sync_seconds=0.1)


@pytest.fixture
async def replicas(redis_cluster: RedisClusterNodes) -> AsyncIterator[tuple[BreakerBoard, BreakerBoard, str]]:
    provider = unique("prov")
    prefix = f"gw:breaker:test:{unique()}"
    clients = [command_client(redis_cluster.url, cluster=True, options=SHARED) for _ in range(2)]
    boards = [share(BreakerBoard(POLICY, identities={provider: provider}), c, prefix=prefix)
              for c in clients]
    for board in boards:
        board.breaker(provider, "m")
        await board.start()
    try:
        yield boards[0], boards[1], provider
    finally:
        for board in boards:
            await board.close()
        for client in clients:
            await client.aclose()


def state_of(board: BreakerBoard, provider: str) -> State:
    return board.breaker(provider, "m").state


async def test_breakers_are_shared_through_the_cluster(replicas: tuple[BreakerBoard, BreakerBoard, str]) -> None:
    a, b, provider = replicas
    assert isinstance(a.shared, SharedBreakers) and isinstance(a.shared.redis, RedisCluster)
    await fail(a, provider, 2)
    await fail(b, provider, 2)                        # neither alone reaches min_requests: counts add up

    async def both(state: State) -> bool:
        return state_of(a, provider) is state and state_of(b, provider) is state
    await eventually(lambda: both(State.OPEN), 5)
    assert await b.acquire(provider, "m") is None

    await asyncio.sleep(POLICY.cooldown_seconds + 0.05)
    probe = await a.acquire(provider, "m")            # the claim script moves it to half-open
    assert probe is not None and probe.probe
    assert await b.acquire(provider, "m") is None     # the one probe slot is a's
    probe.release(CallOutcome.SUCCESS)                    # the probe-ok script closes it for both
    await eventually(lambda: both(State.CLOSED), 5)
    assert a.shared.healthy and b.shared is not None and b.shared.healthy
