"""Both cache stores under one suite: the in-process LRU (embedded) and Redis (production,
the shared server at 127.0.0.1:6379). Then Redis alone: the TTL it is given, and an outage
that makes the cache miss instead of failing the request."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.cache.store import CacheStore, MemoryCacheStore, RedisCacheStore, cache_client
from gateway.catalog import CachePolicy
from gateway.pipeline.cache import LookupCache
from gateway.request import CacheStatus
from tests.conftest import unique
from tests.integration.limits.redis_servers import RedisServer, require_redis_server
from tests.support.threads import free_port
from tests.unit.cache.test_lookup_stage import answer, context

MAX_ENTRY = 4096


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CacheStore]:
    if request.param == "memory":
        yield MemoryCacheStore(max_entry_bytes=MAX_ENTRY)
        return
    url = request.getfixturevalue("redis_url")
    admin = Redis.from_url(url)
    redis_store = RedisCacheStore.from_url(url, max_entry_bytes=MAX_ENTRY, admin=admin)
    yield redis_store
    await redis_store.close()
    await admin.aclose()


async def test_clear_drops_one_scope_or_one_model_of_it_and_nothing_else(store: CacheStore) -> None:
    from gateway.cache.keys import cache_key

    mine, theirs = unique("scope"), unique("scope")
    keys = {(scope, model): cache_key(scope, model, {"messages": [{"role": "user", "content": "hi"}]})
            for scope in (mine, theirs) for model in ("gpt-4o-mini", "gpt-4o")}
    for key in keys.values():
        await store.set(key, b"answer", 60)
    assert await store.clear(mine, "gpt-4o") == 1
    assert await store.get(keys[(mine, "gpt-4o")]) is None and await store.get(keys[(mine, "gpt-4o-mini")]) == b"answer"
    assert await store.clear(mine) == 1
    assert await store.get(keys[(mine, "gpt-4o-mini")]) is None
    assert all([await store.get(keys[(theirs, m)]) == b"answer" for m in ("gpt-4o-mini", "gpt-4o")])
    assert await store.clear(theirs) == 2


async def test_a_value_set_is_read_back(store: CacheStore) -> None:
    key = unique("k")
    assert await store.get(key) is None
    await store.set(key, b'{"choices": []}', 60)
    assert await store.get(key) == b'{"choices": []}'


async def test_a_value_is_gone_after_its_ttl(store: CacheStore) -> None:
    key = unique("k")
    await store.set(key, b"soon gone", 1)
    assert await store.get(key) == b"soon gone"
    deadline = time.monotonic() + 3
    while await store.get(key) is not None:
        assert time.monotonic() < deadline, "the entry outlived its TTL"
        await asyncio.sleep(0.1)


async def test_an_entry_over_the_maximum_size_is_not_stored(store: CacheStore) -> None:
    big, fits = unique("k"), unique("k")
    await store.set(big, b"x" * (MAX_ENTRY + 1), 60)
    await store.set(fits, b"x" * MAX_ENTRY, 60)
    assert await store.get(big) is None
    assert await store.get(fits) == b"x" * MAX_ENTRY


async def test_redis_entries_carry_the_ttl_under_the_cache_prefix(redis: Redis) -> None:
    key = unique("k")
    await RedisCacheStore(redis).set(key, b"v", 120)
    ttl = await redis.ttl("gw:cache:v1:" + key)
    assert 118 <= ttl <= 120


async def test_nothing_listening_is_a_quick_miss_then_no_wait_at_all() -> None:
    store = RedisCacheStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        started = time.monotonic()
        assert await store.get("k") is None           # refused: a miss, not an error
        assert time.monotonic() - started < 1.5
        assert not store.available
        started = time.monotonic()
        for i in range(100):                           # meanwhile nobody waits on a dead Redis
            assert await store.get(f"k{i}") is None
            await store.set(f"k{i}", b"v", 60)
        assert time.monotonic() - started < 0.1
    finally:
        await store.close()


async def test_a_redis_outage_misses_and_the_cache_works_again_after_it(tmp_path: Path) -> None:
    require_redis_server()
    server = RedisServer(tmp_path / "redis")
    server.start()
    clock = [0.0]
    client = cache_client(server.url)
    store = RedisCacheStore(client, owns_client=True, recheck_seconds=2.0, clock=lambda: clock[0])
    try:
        await store.set("k", b"before", 60)
        assert await store.get("k") == b"before"
        server.stop()
        assert await store.get("k") is None            # a miss, not an error
        await store.set("k2", b"during", 60)           # skipped, not raised
        server.start()                                 # back, empty: it saves nothing
        assert await store.get("k") is None            # not tried again before the recheck interval
        for _ in range(100):                           # the client's own probe reconnects (real time)
            with contextlib.suppress(RedisError):
                if await client.ping():
                    break
            await asyncio.sleep(0.05)
        clock[0] += 2.0
        await store.set("k3", b"after", 60)            # the probe finds it back
        assert store.available and await store.get("k3") == b"after"
    finally:
        await store.close()
        server.stop()


async def test_the_cache_stage_over_a_dead_redis_misses_and_answers_go_on() -> None:
    store = RedisCacheStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    stage = LookupCache(store, CachePolicy())
    try:
        ctx = context()
        await stage(ctx)
        assert ctx.cache_status is CacheStatus.MISS and ctx.result is None
        ctx.completion = answer("stop")
        await stage.remember(ctx)              # dropped, not raised
    finally:
        await store.close()
