"""Tenancy changes carried to every replica's key directory (and prompt label moves to its
prompt resolver: gateway/prompts/resolver.py).

A revoke, a disable or a tier change is applied to this process's directory at once and,
with Redis, published on one channel that every replica subscribes to. A replica drops the
affected cache entries when the message arrives (milliseconds); the directory's short TTL is
the backstop for anything the channel misses. Whenever the subscription is (re)established
the replica drops its whole cache, because messages sent while it was away are lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.redis_client import PUBLISHER, SUBSCRIBER, node_client

log = logging.getLogger("gateway.tenancy.changes")

# Versioned: a replica of a later release that changes the message publishes on its own channel.
CHANNEL = "llm-gateway:tenancy-changes:v1"
_RECONNECT_FIRST_DELAY = 0.1
_RECONNECT_MAX_DELAY = 2.0
_POLL_SECONDS = 1.0          # how often the listener wakes to run Redis health checks


class ChangeKind(StrEnum):
    KEY = "key"              # one key changed (revoked, rotated): drop its entry
    TENANT = "tenant"        # a tenant changed (tier, allowlist, limits, disabled): drop its keys
    PROMPT = "prompt"        # a prompt's label moved or a version was added: drop its pointers
    ALL = "all"              # anything may have changed: drop everything


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    id: str = ""

    def encode(self) -> bytes:
        return orjson.dumps({"kind": self.kind.value, "id": self.id})

    @classmethod
    def decode(cls, data: bytes | str) -> Change | None:
        """None for anything that is not a well-formed change (a foreign publisher, say)."""
        try:
            value = orjson.loads(data)
            return cls(ChangeKind(value["kind"]), str(value.get("id", "")))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


Apply = Callable[[Change], None]


class ChangeFeed:
    """Publishes changes and, given `apply`, applies everyone's changes to this process.

    Without Redis, `publish` only applies locally (a single process needs nothing more). The
    CLI builds one with `apply=None`: it publishes for the running gateways and listens to nothing.
    """

    def __init__(self, redis_url: str | None, apply: Apply | None) -> None:
        self._apply = apply
        self._publisher: Redis | None = None
        self._subscriber: Redis | None = None
        if redis_url:
            # Plain clients to the node the URL names, in cluster mode too: a classic PUBLISH on
            # any node of a cluster reaches the subscribers of every node.
            self._publisher = node_client(redis_url, PUBLISHER)
            # No read timeout: the listener waits on its own schedule (_POLL_SECONDS) and relies on
            # health checks and TCP keepalive to notice a dead connection.
            self._subscriber = node_client(redis_url, SUBSCRIBER)
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        self.resubscriptions = 0     # how many times the subscription was (re)established

    async def publish(self, change: Change) -> None:
        """Applies `change` here at once and tells the other replicas. A Redis failure is logged,
        not raised: the change is committed already and the directory's TTL still applies it."""
        if self._apply is not None:
            self._apply(change)
        if self._publisher is None:
            return
        try:
            await self._publisher.publish(CHANNEL, change.encode())
        except (RedisError, OSError) as exc:
            log.warning("could not publish a tenancy change; replicas apply it within the cache TTL",
                        extra={"change": change.kind.value, "error": type(exc).__name__})

    async def start(self, wait_seconds: float = 2.0) -> None:
        """Starts the listener and waits (bounded) for the first subscription, so that a replica
        reporting ready already hears changes. With Redis down it starts anyway and keeps trying."""
        if self._subscriber is None or self._apply is None:
            return
        self._task = asyncio.create_task(self._listen(), name="tenancy-change-feed")
        try:
            await asyncio.wait_for(self.subscribed.wait(), wait_seconds)
        except TimeoutError:
            log.warning("tenancy change feed not subscribed yet; retrying in the background")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for client in (self._publisher, self._subscriber):
            if client is not None:
                await client.aclose()

    async def _listen(self) -> None:
        assert self._subscriber is not None and self._apply is not None
        delay = _RECONNECT_FIRST_DELAY
        while True:
            try:
                async with self._subscriber.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    while True:
                        message = await pubsub.get_message(timeout=_POLL_SECONDS)
                        if message is not None:
                            self._handle(message)
                            delay = _RECONNECT_FIRST_DELAY
            except (RedisError, OSError) as exc:
                log.warning("tenancy change feed lost Redis; reconnecting",
                            extra={"error": type(exc).__name__, "retry_in_s": delay})
            self.subscribed.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECONNECT_MAX_DELAY)

    def _handle(self, message: dict[str, Any]) -> None:
        assert self._apply is not None
        kind = message.get("type")
        if kind == "subscribe":
            # (Re)subscribed -- possibly after a silent reconnect inside redis-py: whatever was
            # published meanwhile is lost, so nothing cached before now can be trusted.
            self._apply(Change(ChangeKind.ALL))
            self.resubscriptions += 1
            self.subscribed.set()
        elif kind == "message":
            change = Change.decode(message["data"])
            if change is not None:
                self._apply(change)
