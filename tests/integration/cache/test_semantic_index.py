"""Both semantic indexes under one suite: in process (embedded) and plain Redis (shared by
replicas): nearest entries by cosine, partitions and scopes apart, bounded per scope (LRU),
a bounded read per lookup however many entries there are, clearing by scope and model."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
from redis.asyncio import Redis

from gateway.cache.semantic.index import BUCKET, RECENT, MemorySemanticIndex, SemanticIndex
from gateway.cache.semantic.redis_index import RedisSemanticIndex, scope_prefix
from gateway.cache.semantic.vectors import BANDS, Vector, normalized
from gateway.cache.store import cache_client
from tests.conftest import unique
from tests.support.threads import free_port

DIM = 384
rng = np.random.default_rng(7)


def random_vector() -> Vector:
    return normalized(rng.standard_normal(DIM).astype(np.float32))


def near(vector: Vector, noise: float = 0.3) -> Vector:
    """A neighbour at cosine ~0.96 (a noise vector of norm `noise`)."""
    return normalized(vector + noise * rng.standard_normal(DIM).astype(np.float32) / np.sqrt(DIM))


@pytest.fixture(params=["memory", "redis"])
async def index(request: pytest.FixtureRequest) -> AsyncIterator[SemanticIndex]:
    if request.param == "memory":
        yield MemorySemanticIndex(max_entries=50)
        return
    url = request.getfixturevalue("redis_url")
    admin = Redis.from_url(url)
    redis_index = RedisSemanticIndex(cache_client(url), admin, max_entries=50, owns_client=True)
    yield redis_index
    await redis_index.close()
    await admin.aclose()


async def test_the_nearest_entries_come_first_within_one_partition(index: SemanticIndex) -> None:
    scope, target = unique("s"), random_vector()
    await index.add(scope, "p1", "m", target, "the question", "answer-key-1", 60)
    await index.add(scope, "p1", "m", random_vector(), "another question", "answer-key-2", 60)
    found = await index.nearest(scope, "p1", near(target), 8)
    assert [c.answer_key for c in found][:1] == ["answer-key-1"] and found[0].text == "the question"
    assert found[0].similarity > 0.9 > found[-1].similarity
    assert await index.nearest(scope, "p2", target, 8) == []                 # another partition
    assert await index.nearest(unique("s"), "p1", target, 8) == []           # another scope


async def test_a_scope_keeps_its_most_recently_used_entries(index: SemanticIndex) -> None:
    scope = unique("s")
    first = random_vector()
    await index.add(scope, "p", "m", first, "first", "k-first", 60)
    second = random_vector()
    await index.add(scope, "p", "m", second, "second", "k-second", 60)
    [hit] = [c for c in await index.nearest(scope, "p", first, 8) if c.answer_key == "k-first"]
    await index.touch(scope, hit.entry_id)                    # first is now more recent than second
    for i in range(49):
        await index.add(scope, f"other{i}", "m", random_vector(), "filler", f"k{i}", 60)
    assert [c.answer_key for c in await index.nearest(scope, "p", first, 8)] == ["k-first"]   # second evicted


async def test_a_lookup_reads_a_bounded_number_of_entries_and_still_finds_an_old_neighbour(
        index: SemanticIndex) -> None:
    scope, target = unique("s"), random_vector()
    await index.add(scope, "p", "m", target, "old", "k-old", 600)
    for i in range(48):
        await index.add(scope, "p", "m", random_vector(), f"newer {i}", f"k{i}", 600)
    found = await index.nearest(scope, "p", near(target), 10_000)
    assert len(found) <= RECENT + BANDS * BUCKET
    assert found[0].answer_key == "k-old"


async def test_clearing_a_model_or_a_scope(index: SemanticIndex) -> None:
    mine, theirs, vector = unique("s"), unique("s"), random_vector()
    for scope in (mine, theirs):
        await index.add(scope, "p", "gpt-4o", vector, "q", "k-4o", 60)
        await index.add(scope, "p", "gpt-4o-mini", vector, "q", "k-mini", 60)
    assert await index.clear(mine, "gpt-4o") == 1
    assert [c.answer_key for c in await index.nearest(mine, "p", vector, 8)] == ["k-mini"]
    assert await index.clear(mine) >= 1
    assert await index.nearest(mine, "p", vector, 8) == []
    assert sorted(c.answer_key for c in await index.nearest(theirs, "p", vector, 8)) == ["k-4o", "k-mini"]


async def test_memory_entries_expire_with_the_ttl() -> None:
    now = [0.0]
    index = MemorySemanticIndex(clock=lambda: now[0])
    vector = random_vector()
    await index.add("s", "p", "m", vector, "q", "k", 60)
    now[0] = 59
    assert len(await index.nearest("s", "p", vector, 8)) == 1
    now[0] = 61
    assert await index.nearest("s", "p", vector, 8) == []


async def test_redis_entries_carry_the_ttl_under_one_hash_tag(redis_url: str) -> None:
    scope = unique("s")
    admin = Redis.from_url(redis_url)
    index = RedisSemanticIndex(cache_client(redis_url), admin, owns_client=True)
    try:
        await index.add(scope, "p", "m", random_vector(), "q", "k", 77)
        keys = [k async for k in admin.scan_iter(match=scope_prefix(scope) + "*")]
        assert len(keys) == 2 + 1 + BANDS                    # entry, lru, recent list, one bucket per band
        assert all(0 < ttl <= 77 for ttl in [await admin.ttl(k) for k in keys])
        assert await index.clear(scope) == 1
        assert [k async for k in admin.scan_iter(match=scope_prefix(scope) + "*")] == []
    finally:
        await index.close()
        await admin.aclose()


async def test_a_redis_outage_is_a_miss() -> None:
    index = RedisSemanticIndex(cache_client(f"redis://127.0.0.1:{free_port()}/0"), owns_client=True)
    try:
        assert await index.nearest("s", "p", random_vector(), 8) == []
        await index.add("s", "p", "m", random_vector(), "q", "k", 60)        # skipped, no error
    finally:
        await index.close()
