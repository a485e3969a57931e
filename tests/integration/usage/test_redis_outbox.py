"""The Redis Stream outbox on real Redis and PostgreSQL: drain, claim from a dead consumer,
retry after a database failure, fallback while Redis is down, and dead-lettering."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db import create_engine
from gateway.usage.record import UsageRecord
from gateway.usage.redis_outbox import FIELD, RedisStreamOutbox, StreamConfig
from gateway.usage.tables import usage_daily, usage_records
from tests.conftest import unique
from tests.integration.usage.conftest import ProxiedPostgres, StreamNames
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL only (the root conftest's `engine` opens it)."""
    return postgres_url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, socket_timeout=2)
    yield client
    await client.aclose()


def config(stream: StreamNames, consumer: str = "c1", **overrides: object) -> StreamConfig:
    values: dict[str, object] = {"key": stream.key, "group": stream.group, "consumer": consumer,
                                 "interval": 0.05, "claim_idle": 30.0, **overrides}
    return StreamConfig(**values)  # type: ignore[arg-type]


def records(tenant: str, n: int, cost: str = "0.0000123") -> list[UsageRecord]:
    return [UsageRecord(request_id=f"{tenant}-{i}", tenant=tenant, status="ok", http_status=200, model="m",
                        provider="p", prompt_tokens=10, completion_tokens=i, cost_usd=Decimal(cost))
            for i in range(n)]


async def tenant_rows(engine: AsyncEngine, tenant: str) -> list[sa.Row[Any]]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.select(usage_records).where(usage_records.c.tenant == tenant))).all())


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> bool:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def count_is(engine: AsyncEngine, tenant: str, n: int) -> bool:
    return len(await tenant_rows(engine, tenant)) == n


async def test_appended_records_reach_the_database_and_leave_the_stream(
        engine: AsyncEngine, redis: Redis, stream: StreamNames) -> None:
    tenant = unique()
    outbox = RedisStreamOutbox(redis, engine, config(stream))
    await outbox.start()
    try:
        for record in records(tenant, 50):
            await outbox.append(record)
        assert await eventually(lambda: count_is(engine, tenant, 50))
        assert await eventually(lambda: _stream_empty(redis, stream.key))
        assert await eventually(lambda: _gauge_is(0))
    finally:
        await outbox.close()
    rows = await tenant_rows(engine, tenant)
    assert sum(r.cost_usd for r in rows) == Decimal("0.0000123") * 50
    async with engine.connect() as conn:
        daily = (await conn.execute(sa.select(usage_daily).where(usage_daily.c.tenant == tenant))).one()
    assert (daily.requests, daily.completion_tokens, daily.cost_usd) == (50, sum(range(50)), Decimal("0.000615"))


async def _stream_empty(redis: Redis, key: str) -> bool:
    return int(await redis.xlen(key)) == 0


async def _gauge_is(value: float) -> bool:
    return REGISTRY.get_sample_value("gateway_usage_outbox_pending") == value


async def test_entries_left_pending_by_a_dead_consumer_are_claimed(
        engine: AsyncEngine, redis: Redis, stream: StreamNames) -> None:
    tenant = unique()
    writer = RedisStreamOutbox(redis, engine, config(stream, consumer="writer"))   # append only, never started
    for record in records(tenant, 20):
        await writer.append(record)
    # A replica reads the entries, then dies before writing or acknowledging them.
    await redis.xgroup_create(stream.key, stream.group, id="0")
    read: Any = await redis.xreadgroup(stream.group, "dead-replica", {stream.key: ">"}, count=100)
    assert len(read[0][1]) == 20
    assert (await redis.xpending(stream.key, stream.group))["pending"] == 20

    survivor = RedisStreamOutbox(redis, engine, config(stream, consumer="survivor", claim_idle=0.3))
    await survivor.start()
    try:
        assert await eventually(lambda: count_is(engine, tenant, 20))
        assert await eventually(lambda: _nothing_pending(redis, stream))
    finally:
        await survivor.close()
    assert len({r.request_id for r in await tenant_rows(engine, tenant)}) == 20


async def test_consumers_of_gone_replicas_are_removed_but_not_those_holding_records(
        engine: AsyncEngine, redis: Redis, stream: StreamNames) -> None:
    tenant = unique()
    writer = RedisStreamOutbox(redis, engine, config(stream, consumer="writer"))   # append only
    await redis.xgroup_create(stream.key, stream.group, id="$", mkstream=True)
    await redis.xgroup_createconsumer(stream.key, stream.group, "gone-replica")    # read nothing, holds nothing
    for record in records(tenant, 3):
        await writer.append(record)
    await redis.xreadgroup(stream.group, "dead-holding", {stream.key: ">"}, count=100)   # holds 3
    await asyncio.sleep(0.4)

    survivor = RedisStreamOutbox(redis, engine, config(stream, consumer="survivor", claim_idle=3600,
                                                       prune_idle=0.3))
    await survivor.start()
    try:
        assert await eventually(lambda: _consumers_are(redis, stream, {"survivor", "dead-holding"}))
    finally:
        await survivor.close()


async def _consumers_are(redis: Redis, stream: StreamNames, names: set[str]) -> bool:
    consumers = await redis.xinfo_consumers(stream.key, stream.group)
    return {c["name"].decode() for c in consumers} == names


async def _nothing_pending(redis: Redis, stream: StreamNames) -> bool:
    return int((await redis.xpending(stream.key, stream.group))["pending"]) == 0


async def test_a_batch_the_database_refused_is_retried_once_it_is_back(
        redis: Redis, stream: StreamNames, proxied_postgres: ProxiedPostgres) -> None:
    tenant = unique()
    engine = create_engine(proxied_postgres.url)
    direct = create_engine(proxied_postgres.direct_url)
    outbox = RedisStreamOutbox(redis, engine, config(stream))
    try:
        proxied_postgres.proxy.cut()
        await outbox.start()
        for record in records(tenant, 30):
            await outbox.append(record)
        assert await eventually(lambda: _pending_at_least(redis, stream, 1), within=10)
        assert await tenant_rows(direct, tenant) == []
        assert await outbox.pending() == 30          # still in the stream: nothing is lost
        proxied_postgres.proxy.restore()
        assert await eventually(lambda: count_is(direct, tenant, 30), within=30)
        assert await eventually(lambda: _nothing_pending(redis, stream))
    finally:
        await outbox.close()
        await engine.dispose()
        await direct.dispose()


async def _pending_at_least(redis: Redis, stream: StreamNames, n: int) -> bool:
    try:
        return int((await redis.xpending(stream.key, stream.group))["pending"]) >= n
    except Exception:
        return False


async def test_redis_down_at_append_keeps_the_record_in_process_and_says_so(
        engine: AsyncEngine, redis_url: str, stream: StreamNames, caplog: pytest.LogCaptureFixture) -> None:
    tenant = unique()
    host, port = redis_url.split("//", 1)[1].split("/", 1)[0].split(":")
    with TcpProxy(host, int(port)) as proxy:
        client = Redis.from_url(f"redis://127.0.0.1:{proxy.port}/0", socket_timeout=2, socket_connect_timeout=2)
        outbox = RedisStreamOutbox(client, engine, config(stream, redis_retry=0.2))
        try:
            proxy.cut()
            with caplog.at_level(logging.WARNING, logger="gateway.usage"):
                for record in records(tenant, 5):
                    await outbox.append(record)          # returns: the request is not failed
            assert any("Redis unavailable" in r.getMessage() and r.levelno == logging.WARNING
                       for r in caplog.records)
            assert await outbox.pending() == 5
            await outbox.start()                        # drains the in-process queue to the database
            assert await eventually(lambda: count_is(engine, tenant, 5))
            proxy.restore()
            more = records(tenant + "-later", 3)
            await asyncio.sleep(0.3)                    # past redis_retry: Redis is tried again
            for record in more:
                await outbox.append(record)
            assert await eventually(lambda: count_is(engine, tenant + "-later", 3))
        finally:
            await outbox.close()
            await client.aclose()


async def test_records_kept_in_process_go_back_to_the_stream_when_redis_returns(
        redis_url: str, redis: Redis, stream: StreamNames, proxied_postgres: ProxiedPostgres) -> None:
    """Redis and the database both down: the records wait in process, return to Redis first
    (durable again), and reach the database once it is back."""
    tenant = unique()
    host, port = redis_url.split("//", 1)[1].split("/", 1)[0].split(":")
    engine = create_engine(proxied_postgres.url)
    direct = create_engine(proxied_postgres.direct_url)
    with TcpProxy(host, int(port)) as redis_proxy:
        client = Redis.from_url(f"redis://127.0.0.1:{redis_proxy.port}/0", socket_timeout=2,
                                socket_connect_timeout=2)
        outbox = RedisStreamOutbox(client, engine, config(stream, redis_retry=0.2))
        try:
            redis_proxy.cut()
            proxied_postgres.proxy.cut()
            await outbox.start()
            for record in records(tenant, 7):
                await outbox.append(record)
            redis_proxy.restore()
            assert await eventually(lambda: _stream_has(redis, stream.key, 7), within=30)
            proxied_postgres.proxy.restore()
            assert await eventually(lambda: count_is(direct, tenant, 7), within=30)
        finally:
            await outbox.close()
            await client.aclose()
            await engine.dispose()
            await direct.dispose()


async def _stream_has(redis: Redis, key: str, n: int) -> bool:
    return int(await redis.xlen(key)) >= n


async def test_unreadable_and_invalid_entries_are_dead_lettered_without_blocking_the_rest(
        engine: AsyncEngine, redis: Redis, stream: StreamNames) -> None:
    tenant = unique()
    good = records(tenant, 3)
    invalid = UsageRecord(request_id=f"{tenant}-bad", tenant="x" * 300, status="ok", http_status=200)
    outbox = RedisStreamOutbox(redis, engine, config(stream))
    await outbox.append(good[0])
    await redis.xadd(stream.key, {FIELD: b"{not json"})
    await outbox.append(invalid)
    for record in good[1:]:
        await outbox.append(record)
    await outbox.start()
    try:
        assert await eventually(lambda: count_is(engine, tenant, 3))
        assert await eventually(lambda: _stream_empty(redis, stream.key))
    finally:
        await outbox.close()
    dead: Any = await redis.xrange(stream.dead_key)
    assert sorted(fields[b"error"] for _, fields in dead) == [b"JSONDecodeError", b"StringDataRightTruncationError"]
