"""The in-process store: a bounded LRU with per-entry TTL and a maximum entry size."""

from __future__ import annotations

import pytest

from gateway.cache.store import MemoryCacheStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_get_returns_what_was_set() -> None:
    store = MemoryCacheStore()
    assert await store.get("k") is None
    await store.set("k", b"value", 60)
    assert await store.get("k") == b"value"


async def test_entries_expire_after_their_ttl(clock: Clock) -> None:
    store = MemoryCacheStore(clock=clock)
    await store.set("short", b"1", 5)
    await store.set("long", b"2", 50)
    clock.now += 4.9
    assert await store.get("short") == b"1"
    clock.now += 0.2
    assert await store.get("short") is None
    assert await store.get("long") == b"2"


async def test_the_least_recently_used_entry_goes_first() -> None:
    store = MemoryCacheStore(max_entries=3)
    for name in ("a", "b", "c"):
        await store.set(name, name.encode(), 60)
    assert await store.get("a") == b"a"       # a is now the most recently used
    await store.set("d", b"d", 60)
    assert await store.get("b") is None
    assert [await store.get(n) for n in ("a", "c", "d")] == [b"a", b"c", b"d"]


async def test_the_store_never_holds_more_than_its_bound() -> None:
    store = MemoryCacheStore(max_entries=100)
    for i in range(1000):
        await store.set(f"k{i}", b"x", 60)
    assert len(store._entries) == 100
    assert await store.get("k999") == b"x" and await store.get("k899") is None


async def test_an_entry_over_the_size_limit_is_not_stored() -> None:
    store = MemoryCacheStore(max_entry_bytes=10)
    await store.set("big", b"x" * 11, 60)
    await store.set("fits", b"x" * 10, 60)
    assert await store.get("big") is None
    assert await store.get("fits") == b"x" * 10


async def test_setting_again_replaces_the_value_and_its_ttl(clock: Clock) -> None:
    store = MemoryCacheStore(clock=clock)
    await store.set("k", b"old", 5)
    clock.now += 4
    await store.set("k", b"new", 5)
    clock.now += 4
    assert await store.get("k") == b"new"
