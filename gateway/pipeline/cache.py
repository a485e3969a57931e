"""Stage 5: an exact-match answer cache. A hit answers at once (streamed or not) and is
marked `"cache": "hit"`; a completed answer is stored after the response (`remember`)."""

from __future__ import annotations

import orjson

from gateway.cache.keys import cache_key
from gateway.cache.store import CacheStore
from gateway.catalog import CachePolicy
from gateway.pipeline.context import CacheStatus, Outcome, RequestContext
from gateway.telemetry import metrics
from providers.base import ChatResult, Usage


class LookupCache:
    def __init__(self, store: CacheStore, policy: CachePolicy) -> None:
        self._store = store
        self._policy = policy

    def enabled_for(self, ctx: RequestContext) -> bool:
        assert ctx.principal is not None
        return (ctx.principal.tenant.cache_mode or self._policy.mode) == "exact"

    async def __call__(self, ctx: RequestContext) -> None:
        if not self.enabled_for(ctx) or not (ctx.cache_read or ctx.cache_write):
            ctx.cache_status = CacheStatus.BYPASS
            metrics.CACHE.labels("bypass").inc()
            return
        assert ctx.principal is not None
        scope = ctx.principal.tenant.id if self._policy.scope == "tenant" else "shared"
        ctx.cache_key = cache_key(scope, ctx.request.model, ctx.request.body)
        if not ctx.cache_read:
            ctx.cache_status = CacheStatus.BYPASS
            metrics.CACHE.labels("bypass").inc()
            return
        stored = await self._store.get(ctx.cache_key)
        if stored is None:
            ctx.cache_status = CacheStatus.MISS
            metrics.CACHE.labels("miss").inc()
            return
        body = orjson.loads(stored)
        body["cache"] = "hit"
        usage = Usage.from_openai(body.get("usage")) or Usage()
        ctx.result = ChatResult(body=body, usage=usage)
        ctx.usage = usage            # the tokens the hit saved; charged at zero cost
        ctx.cache_status = CacheStatus.HIT
        metrics.CACHE.labels("hit").inc()

    async def remember(self, ctx: RequestContext) -> None:
        """Stores a completed, successful answer (never a cut stream or an error)."""
        if (ctx.cache_key is None or not ctx.cache_write or ctx.cache_status is CacheStatus.HIT
                or ctx.outcome is not Outcome.OK or ctx.completion is None):
            return
        await self._store.set(ctx.cache_key, ctx.completion, self._policy.ttl_seconds)
