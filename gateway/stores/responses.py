"""Stored Responses (`store: true`): the Response object and the chat conversation it ends,
for `GET /v1/responses/{id}` and `previous_response_id`. Keyed per tenant: another tenant
asking for the same id finds nothing (404), exactly as for an id that never existed.

Two implementations of one interface: Redis with a TTL (shared by replicas), and a bounded
in-process store for the embedded gateway. Stored texts are those the model read and wrote
after the guardrails (redacted where the tenant redacts).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.redis_client import Client

JSON = dict[str, Any]
_PREFIX = "gw:responses:v1:"


@dataclass(slots=True)
class StoredResponse:
    response: JSON          # the Response object as the client got it
    messages: list[JSON]    # the chat conversation up to and including its answer

    def to_bytes(self) -> bytes:
        return orjson.dumps({"response": self.response, "messages": self.messages})

    @classmethod
    def from_bytes(cls, raw: bytes) -> StoredResponse | None:
        try:
            data = orjson.loads(raw)
            return cls(response=data["response"], messages=data["messages"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None


class ResponseStore(ABC):
    def __init__(self, ttl_seconds: int) -> None:
        self.ttl_seconds = ttl_seconds

    @abstractmethod
    async def put(self, tenant: str, response_id: str, stored: StoredResponse) -> None: ...

    @abstractmethod
    async def get(self, tenant: str, response_id: str) -> StoredResponse | None: ...

    @abstractmethod
    async def delete(self, tenant: str, response_id: str) -> bool:
        """True when there was such a response (of this tenant) to delete."""

    async def close(self) -> None:
        """Releases what the store holds (nothing: the Redis client is the runtime's)."""


class MemoryResponseStore(ResponseStore):
    """In process, least recently used dropped past `max_entries`, expired after the TTL."""

    def __init__(self, ttl_seconds: int, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl_seconds)
        self._entries: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock

    async def put(self, tenant: str, response_id: str, stored: StoredResponse) -> None:
        key = (tenant, response_id)
        self._entries[key] = (self._clock() + self.ttl_seconds, stored.to_bytes())
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def get(self, tenant: str, response_id: str) -> StoredResponse | None:
        key = (tenant, response_id)
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return StoredResponse.from_bytes(found[1])

    async def delete(self, tenant: str, response_id: str) -> bool:
        found = self._entries.pop((tenant, response_id), None)
        return found is not None and found[0] > self._clock()


class RedisResponseStore(ResponseStore):
    """One key per response, `gw:responses:v1:<tenant id>:<response id>`, expiring with the TTL."""

    def __init__(self, redis: Client, ttl_seconds: int) -> None:
        super().__init__(ttl_seconds)
        self._redis = redis

    @staticmethod
    def _key(tenant: str, response_id: str) -> str:
        return f"{_PREFIX}{tenant}:{response_id}"

    async def put(self, tenant: str, response_id: str, stored: StoredResponse) -> None:
        await self._redis.set(self._key(tenant, response_id), stored.to_bytes(), ex=self.ttl_seconds)

    async def get(self, tenant: str, response_id: str) -> StoredResponse | None:
        raw = await self._redis.get(self._key(tenant, response_id))
        return StoredResponse.from_bytes(raw) if isinstance(raw, bytes) else None

    async def delete(self, tenant: str, response_id: str) -> bool:
        return bool(await self._redis.delete(self._key(tenant, response_id)))


def build_response_store(redis: Client | None, ttl_seconds: int) -> ResponseStore:
    return RedisResponseStore(redis, ttl_seconds) if redis is not None else MemoryResponseStore(ttl_seconds)
