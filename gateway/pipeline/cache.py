"""Stage 5: an exact-match answer cache. A hit answers at once (streamed or not) and is
marked `"cache": "hit"`; a completed answer is stored after the response (`remember`).

The key is computed here, after guardrails, from the request as the provider would get
it: redacted PII never reaches the key. Per tenant (`tenant.cache_mode` over the catalog's
`cache.mode`): `exact` or `off`. `Cache-Control: no-cache` skips the read (the answer is
still stored), `no-store` skips the write; `x-gateway-cache` says `hit`, `miss` or `bypass`
(bypass: the cache was not read)."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from gateway.cache.keys import cache_key
from gateway.cache.storable import requested_choices, storable
from gateway.cache.store import CacheStore
from gateway.catalog import CachePolicy
from gateway.request import CacheStatus, Operation, Outcome, RequestContext
from gateway.telemetry import metrics
from providers.base import ChatResult, Usage

log = logging.getLogger("gateway.cache")


class LookupCache:
    def __init__(self, store: CacheStore, policy: CachePolicy) -> None:
        self._store = store
        self._policy = policy

    def enabled_for(self, ctx: RequestContext) -> bool:
        assert ctx.principal is not None
        return (ctx.principal.tenant.cache_mode or self._policy.mode) == "exact"

    def scope_of(self, ctx: RequestContext) -> str:
        assert ctx.principal is not None
        return ctx.principal.tenant.id if self._policy.scope == "tenant" else "shared"

    async def __call__(self, ctx: RequestContext) -> None:
        if (ctx.operation is not Operation.CHAT or not self.enabled_for(ctx)
                or not (ctx.cache_read or ctx.cache_write)):
            self._note(ctx, CacheStatus.BYPASS)
            return
        ctx.cache_key = cache_key(self.scope_of(ctx), ctx.request.model, ctx.request.body)
        if not ctx.cache_read:
            self._note(ctx, CacheStatus.BYPASS)
            return
        stored = await self._store.get(ctx.cache_key)
        body = _decoded(stored) if stored is not None else None
        if body is None:
            self._note(ctx, CacheStatus.MISS)
            return
        body["cache"] = "hit"
        usage = Usage.from_openai(body.get("usage")) or Usage()
        ctx.result = ChatResult(body=body, usage=usage)   # usage: the tokens the hit saved (charged at 0)
        self._note(ctx, CacheStatus.HIT)

    async def remember(self, ctx: RequestContext) -> None:
        """Stores a completed, successful answer (never a cut stream or an error)."""
        if (ctx.cache_key is None or not ctx.cache_write or ctx.cache_status is CacheStatus.HIT
                or ctx.outcome is not Outcome.OK or ctx.completion is None):
            return
        completion = _decoded(ctx.completion)
        if completion is None or not storable(completion, requested_choices(ctx.request.body)):
            return
        await self._store.set(ctx.cache_key, ctx.completion, self._policy.ttl_seconds)

    @staticmethod
    def _note(ctx: RequestContext, status: CacheStatus) -> None:
        ctx.cache_status = status
        metrics.CACHE.labels(status.value).inc()


def _decoded(stored: bytes) -> dict[str, Any] | None:
    try:
        body = orjson.loads(stored)
    except orjson.JSONDecodeError:
        log.warning("unreadable cache entry ignored")
        return None
    return body if isinstance(body, dict) else None
