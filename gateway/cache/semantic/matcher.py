"""A semantic lookup: the request's key text, its nearest stored neighbours in the same
partition, and the first of them that is similar enough *and* passes the guards."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.cache.semantic.guards import agree
from gateway.cache.semantic.index import Candidate, SemanticIndex
from gateway.cache.semantic.keytext import KeyText, key_text
from gateway.cache.semantic.vectors import Vector
from gateway.catalog import SemanticPolicy
from gateway.telemetry import metrics

NEIGHBOURS = 8       # candidates compared with the guards, best first

Embed = Callable[[str], Awaitable[Vector | None]]


@dataclass(slots=True)
class Pending:
    """A request that missed: what `remember` files once its answer is stored."""

    key: KeyText
    vector: Vector


@dataclass(frozen=True, slots=True)
class Lookup:
    pending: Pending | None       # None: not embeddable (skipped, or the embedding failed)
    match: Candidate | None


class SemanticMatcher:
    def __init__(self, index: SemanticIndex, policy: SemanticPolicy) -> None:
        self.index = index
        self.policy = policy

    def key_of(self, scope: str, model: str, body: dict[str, Any]) -> KeyText | None:
        return key_text(scope, model, body, max_messages=self.policy.max_messages, max_chars=self.policy.max_chars)

    async def lookup(self, scope: str, key: KeyText, embed: Embed, *, read: bool = True) -> Lookup:
        vector = await embed(key.text)
        if vector is None:
            return Lookup(None, None)
        pending = Pending(key, vector)
        if not read:
            return Lookup(pending, None)
        candidates = await self.index.nearest(scope, key.partition, vector, NEIGHBOURS)
        if candidates:
            metrics.CACHE_SIMILARITY.observe(candidates[0].similarity)
        for candidate in candidates:
            if candidate.similarity < self.policy.threshold:
                break
            if not self.policy.guards or agree(candidate.text, key.text):
                await self.index.touch(scope, candidate.entry_id)
                return Lookup(pending, candidate)
        return Lookup(pending, None)

    async def remember(self, scope: str, model: str, pending: Pending, answer_key: str, ttl_seconds: int) -> None:
        await self.index.add(scope, pending.key.partition, model, pending.vector, pending.key.text,
                             answer_key, ttl_seconds)
