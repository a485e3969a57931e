"""Cache stores: Redis in production (shared by replicas, TTL), a bounded LRU in process."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import OrderedDict

from redis.asyncio import Redis
from redis.exceptions import RedisError

_PREFIX = "gw:cache:v1:"


class CacheStore(ABC):
    @abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None: ...


class MemoryCacheStore(CacheStore):
    def __init__(self, max_entries: int = 10_000, max_entry_bytes: int = 1024 * 1024) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries
        self._max_entry_bytes = max_entry_bytes

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        if len(value) > self._max_entry_bytes:
            return
        self._entries[key] = (time.monotonic() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


class RedisCacheStore(CacheStore):
    """A Redis outage makes the cache miss, never fail the request."""

    def __init__(self, redis: Redis, max_entry_bytes: int = 1024 * 1024) -> None:
        self._redis = redis
        self._max_entry_bytes = max_entry_bytes

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(_PREFIX + key)
        except (RedisError, OSError):
            return None
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        if len(value) > self._max_entry_bytes:
            return
        try:
            await self._redis.set(_PREFIX + key, value, ex=ttl_seconds)
        except (RedisError, OSError):
            return
