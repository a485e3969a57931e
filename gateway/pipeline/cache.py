"""Stage 5: the answer cache. A hit answers at once (streamed or not) and is marked
`"cache": "hit"`; a completed answer is stored after the response (`remember`).

The key is computed here, after guardrails, from the request as the provider would get
it: redacted PII never reaches the key. Per tenant (`tenant.cache_mode` over the catalog's
`cache.mode`): `exact`, `semantic` (exact first, then a paraphrase of an earlier request:
gateway/cache/semantic/) or `off`. `Cache-Control: no-cache` skips the read (the answer is
still stored), `no-store` skips the write; `x-gateway-cache` says `hit`, `miss` or `bypass`
(bypass: the cache was not read)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

import orjson

from gateway.cache.keys import cache_key
from gateway.cache.storable import requested_choices, storable
from gateway.cache.store import CacheStore
from gateway.catalog import CachePolicy
from gateway.request import CacheStatus, Operation, Outcome, RequestContext
from gateway.telemetry import metrics
from providers.base import ChatResult, Usage

if TYPE_CHECKING:   # numpy is imported only by a gateway with a semantic cache
    from gateway.cache.semantic.matcher import Pending, SemanticMatcher
    from gateway.pipeline.embedder import Embedder

log = logging.getLogger("gateway.cache")


class LookupCache:
    def __init__(self, store: CacheStore, policy: CachePolicy, *, semantic: SemanticMatcher | None = None,
                 embedder: Embedder | None = None) -> None:
        self._store = store
        self._policy = policy
        self._semantic = semantic if embedder is not None else None
        self._embedder = embedder

    def mode_for(self, ctx: RequestContext) -> str:
        assert ctx.principal is not None
        mode = ctx.principal.tenant.cache_mode or self._policy.mode
        return "exact" if mode == "semantic" and self._semantic is None else mode

    def enabled_for(self, ctx: RequestContext) -> bool:
        return self.mode_for(ctx) != "off"

    def scope_of(self, ctx: RequestContext) -> str:
        assert ctx.principal is not None
        return ctx.principal.tenant.id if self._policy.scope == "tenant" else "shared"

    async def __call__(self, ctx: RequestContext) -> None:
        if (ctx.operation is not Operation.CHAT or not self.enabled_for(ctx)
                or not (ctx.cache_read or ctx.cache_write)):
            self._note(ctx, CacheStatus.BYPASS)
            return
        scope = self.scope_of(ctx)
        ctx.cache_key = cache_key(scope, ctx.request.model, ctx.request.body)
        if ctx.cache_read:
            stored = await self._store.get(ctx.cache_key)
            body = _decoded(stored) if stored is not None else None
            if body is not None:
                self._hit(ctx, body, "exact", 1.0)
                return
        if self._semantic is not None and self.mode_for(ctx) == "semantic" and await self._semantic_hit(ctx, scope):
            return
        self._note(ctx, CacheStatus.MISS if ctx.cache_read else CacheStatus.BYPASS)

    async def _semantic_hit(self, ctx: RequestContext, scope: str) -> bool:
        assert self._semantic is not None and self._embedder is not None
        key = self._semantic.key_of(scope, ctx.request.model, ctx.request.body)
        if key is None:
            return False
        embedder = self._embedder

        async def embed(text: str) -> Any:
            return await embedder.embed(text, ctx)

        found = await self._semantic.lookup(scope, key, embed, read=ctx.cache_read)
        ctx.semantic_pending = found.pending
        if found.match is None:
            return False
        stored = await self._store.get(found.match.answer_key)
        body = _decoded(stored) if stored is not None else None
        if body is None:          # the answer expired or was evicted before its index entry
            return False
        self._hit(ctx, body, "semantic", found.match.similarity)
        return True

    def _hit(self, ctx: RequestContext, body: dict[str, Any], match: str, similarity: float) -> None:
        body["cache"] = "hit"
        usage = Usage.from_openai(body.get("usage")) or Usage()
        ctx.result = ChatResult(body=body, usage=usage)   # usage: the tokens the hit saved (charged at 0)
        ctx.cache_match, ctx.cache_similarity = match, round(similarity, 4)
        self._note(ctx, CacheStatus.HIT)

    async def remember(self, ctx: RequestContext) -> None:
        """Stores a completed, successful answer (never a cut stream or an error), and files it
        in the semantic index; charges the request's embedding calls. Their Redis commands go
        out together: one round trip, which the response waits for."""
        writes: list[Awaitable[Any]] = []
        if ctx.embedding_calls and self._embedder is not None:
            writes.append(self._embedder.settle(ctx))
        writes += self._answer_writes(ctx)
        if writes:
            await asyncio.gather(*writes)

    def _answer_writes(self, ctx: RequestContext) -> list[Awaitable[Any]]:
        if (ctx.cache_key is None or not ctx.cache_write or ctx.cache_status is CacheStatus.HIT
                or ctx.outcome is not Outcome.OK or ctx.completion is None):
            return []
        completion = _decoded(ctx.completion)
        if completion is None or not storable(completion, requested_choices(ctx.request.body)):
            return []
        writes: list[Awaitable[Any]] = [self._store.set(ctx.cache_key, ctx.completion, self._policy.ttl_seconds)]
        pending = ctx.semantic_pending
        if pending is not None and self._semantic is not None:
            writes.append(self._semantic.remember(self.scope_of(ctx), ctx.request.model, cast("Pending", pending),
                                                  ctx.cache_key, self._policy.ttl_seconds))
        return writes

    async def clear(self, scope: str, model: str | None = None) -> dict[str, int]:
        """`llm-gateway cache clear` / `POST /admin/cache/clear`: a scope's entries, exact and semantic."""
        exact = await self._store.clear(scope, model)
        semantic = await self._semantic.index.clear(scope, model) if self._semantic is not None else 0
        return {"exact": exact, "semantic": semantic}

    @staticmethod
    def _note(ctx: RequestContext, status: CacheStatus) -> None:
        ctx.cache_status = status
        metrics.child(metrics.CACHE, status.value, ctx.cache_match or "none").inc()


def _decoded(stored: bytes) -> dict[str, Any] | None:
    try:
        body = orjson.loads(stored)
    except orjson.JSONDecodeError:
        log.warning("unreadable cache entry ignored")
        return None
    return body if isinstance(body, dict) else None
