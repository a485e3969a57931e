"""One suite over both stored-Responses implementations: in process and real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from gateway.stores.responses import MemoryResponseStore, RedisResponseStore, ResponseStore, StoredResponse
from tests.conftest import unique

StoreFactory = Callable[[int], ResponseStore]


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    if request.param == "memory":
        yield lambda ttl: MemoryResponseStore(ttl)
        return
    url: str = request.getfixturevalue("redis_url")
    redis = Redis.from_url(url)
    try:
        yield lambda ttl: RedisResponseStore(redis, ttl)
    finally:
        await redis.aclose()


def stored(text: str) -> StoredResponse:
    return StoredResponse(response={"id": "resp_x", "output_text": text},
                          messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": text}])


async def test_put_get_delete(make_store: StoreFactory) -> None:
    store, tenant, rid = make_store(60), unique("tenant"), unique("resp_")
    assert await store.get(tenant, rid) is None
    await store.put(tenant, rid, stored("one"))
    assert await store.get(tenant, rid) == stored("one")
    await store.put(tenant, rid, stored("two"))
    assert await store.get(tenant, rid) == stored("two")
    assert await store.delete(tenant, rid) is True
    assert await store.get(tenant, rid) is None
    assert await store.delete(tenant, rid) is False


async def test_another_tenant_sees_nothing(make_store: StoreFactory) -> None:
    store, owner, other, rid = make_store(60), unique("tenant"), unique("tenant"), unique("resp_")
    await store.put(owner, rid, stored("mine"))
    assert await store.get(other, rid) is None
    assert await store.delete(other, rid) is False
    assert await store.get(owner, rid) == stored("mine")


async def test_entries_expire_after_the_ttl(make_store: StoreFactory) -> None:
    store, tenant, rid = make_store(1), unique("tenant"), unique("resp_")
    await store.put(tenant, rid, stored("brief"))
    assert await store.get(tenant, rid) is not None
    await asyncio.sleep(1.3)
    assert await store.get(tenant, rid) is None


async def test_the_memory_store_is_bounded() -> None:
    store = MemoryResponseStore(60, max_entries=2)
    for rid in ("a", "b", "c"):
        await store.put("t", rid, stored(rid))
    assert await store.get("t", "a") is None and await store.get("t", "c") == stored("c")
