"""Cache stores: Redis in production (shared by replicas, TTL, a maximum entry size), a
bounded LRU in process for the embedded default. Both drop an entry over the size limit."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from gateway.cache.keys import glob_escape, key_prefix
from gateway.redis_client import Client, ClientOptions, HotPathClient, hot_path_client

_PREFIX = "gw:cache:v1:"
T = TypeVar("T")

log = logging.getLogger("gateway.cache")


class CacheStore(ABC):
    @abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None: ...

    @abstractmethod
    async def clear(self, scope: str, model: str | None = None) -> int:
        """Drops every entry of `scope` (of `model` only, when given); returns how many."""

    async def close(self) -> None:
        """Releases what the store holds open (nothing, unless it owns a connection pool)."""


class MemoryCacheStore(CacheStore):
    """A bounded LRU with per-entry TTL; `clock` (seconds, monotonic) is the tests' seam."""

    def __init__(self, max_entries: int = 10_000, max_entry_bytes: int = 1024 * 1024, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries
        self._max_entry_bytes = max_entry_bytes
        self._clock = clock

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        if len(value) > self._max_entry_bytes:
            return
        self._entries[key] = (self._clock() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def clear(self, scope: str, model: str | None = None) -> int:
        prefix = key_prefix(scope, model)
        doomed = [key for key in self._entries if key.startswith(prefix)]
        for key in doomed:
            del self._entries[key]
        return len(doomed)


def cache_client(url: str, cluster: bool = False) -> HotPathClient:
    """The cache's own client: short timeouts and one immediate retry (for a pooled connection
    that died with a Redis restart), not redis-py's default retries with backoff, which keep
    a request waiting seconds for an answer it can get from the model anyway."""
    return hot_path_client(url, cluster=cluster, options=ClientOptions(
        connect_timeout=0.5, read_timeout=1, quick_retry=True))


class RedisCacheStore(CacheStore):
    """A Redis outage makes the cache miss (and skip its writes), never fail the request.
    After a failure Redis is tried again at most every `recheck_seconds`, by one request;
    the others miss at once meanwhile, so an outage costs no request a timeout but that one."""

    def __init__(self, redis: HotPathClient, max_entry_bytes: int = 1024 * 1024, *, owns_client: bool = False,
                 recheck_seconds: float = 2.0, clock: Callable[[], float] = time.monotonic,
                 admin: Client | None = None) -> None:
        self._redis = redis
        self._admin = admin         # a redis-py client for `clear` (SCAN); the hot-path one has none
        self._max_entry_bytes = max_entry_bytes
        self._owns_client = owns_client
        self._recheck = recheck_seconds
        self._clock = clock
        self._down = False
        self._next_try = 0.0

    @classmethod
    def from_url(cls, url: str, max_entry_bytes: int = 1024 * 1024, cluster: bool = False,
                 admin: Client | None = None) -> RedisCacheStore:
        return cls(cache_client(url, cluster), max_entry_bytes, owns_client=True, admin=admin)

    @property
    def available(self) -> bool:
        """False while Redis is known to be down and not due for another try."""
        return not self._down or self._clock() >= self._next_try

    async def get(self, key: str) -> bytes | None:
        value = await self._call(lambda: self._redis.get(_PREFIX + key))
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        if len(value) > self._max_entry_bytes:
            return
        await self._call(lambda: self._redis.set(_PREFIX + key, value, ex=ttl_seconds))

    async def clear(self, scope: str, model: str | None = None) -> int:
        """SCANs for the scope's keys (the cache's keys carry no hash tag: they spread over a
        cluster, and a cluster client scans every primary) and unlinks them one by one."""
        if self._admin is None:
            raise RuntimeError("clearing the cache needs a redis-py client")
        removed = 0
        async for key in self._admin.scan_iter(match=glob_escape(_PREFIX + key_prefix(scope, model)) + "*",
                                               count=1000):
            removed += int(await self._admin.unlink(key))
        return removed

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T | None:
        if self._down:
            now = self._clock()
            if now < self._next_try:
                return None
            self._next_try = now + self._recheck       # this request probes; the rest skip
        try:
            result = await operation()
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            return None
        if self._down:
            self._down = False
            log.info("response cache store reachable again")
        return result

    def _went_down(self, exc: BaseException) -> None:
        self._next_try = self._clock() + self._recheck
        if not self._down:
            self._down = True
            log.warning("response cache store unreachable (%s); the cache misses until it returns",
                        type(exc).__name__)
