"""The cache stage on its own (an in-process store): per-tenant mode and scope, the
Cache-Control flags, what the status says, and what `remember` refuses to store."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from gateway.cache.store import MemoryCacheStore
from gateway.catalog import CachePolicy
from gateway.errors import UpstreamError
from gateway.pipeline.cache import LookupCache
from gateway.request import CacheStatus, Outcome, RequestContext
from gateway.tenancy.models import ApiKey, Principal, Tenant
from providers.base import ChatRequest

USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


def context(tenant: str = "t1", cache_mode: str | None = None, *, read: bool = True, write: bool = True,
            **body: Any) -> RequestContext:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **body}
    ctx = RequestContext(request_id="req-1", request=ChatRequest(request), api_key="sk-x",
                         cache_read=read, cache_write=write)
    ctx.principal = Principal(tenant=Tenant(id=tenant, name=f"name-{tenant}", tier="pro", models=("*",),
                                            cache_mode=cache_mode),
                              key=ApiKey(id="k1", tenant_id=tenant, prefix="sk-x", label=None, expires_at=None,
                                         revoked_at=None))
    return ctx


def answer(*finishes: str) -> bytes:
    return orjson.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                         "choices": [{"index": i, "message": {"role": "assistant", "content": "hello"},
                                      "logprobs": None, "finish_reason": f} for i, f in enumerate(finishes)],
                         "usage": USAGE})


async def miss_then_store(stage: LookupCache, ctx: RequestContext, completion: bytes) -> None:
    await stage(ctx)
    ctx.completion = completion
    await stage.remember(ctx)


def metric(result: str) -> float:
    match = "exact" if result == "hit" else "none"
    return REGISTRY.get_sample_value("gateway_cache_requests_total", {"result": result, "match": match}) or 0.0


@pytest.fixture
def stage() -> LookupCache:
    return LookupCache(MemoryCacheStore(), CachePolicy())


async def test_a_miss_is_stored_and_the_repeat_is_a_marked_hit(stage: LookupCache) -> None:
    misses, hits = metric("miss"), metric("hit")
    first = context()
    await miss_then_store(stage, first, answer("stop"))
    assert first.cache_status is CacheStatus.MISS and first.result is None
    second = context()
    await stage(second)
    assert second.cache_status is CacheStatus.HIT and second.result is not None
    assert second.result.body["cache"] == "hit"
    assert second.result.body["choices"][0]["message"]["content"] == "hello"
    assert second.result.usage.total_tokens == 15   # the tokens the hit saved (the response owner charges them)
    assert (metric("miss") - misses, metric("hit") - hits) == (1, 1)


async def test_a_hit_is_not_stored_again(stage: LookupCache) -> None:
    await miss_then_store(stage, context(), answer("stop"))
    hit = context()
    await stage(hit)
    hit.completion = b"would overwrite"
    await stage.remember(hit)
    again = context()
    await stage(again)
    assert again.result is not None and again.result.body["choices"][0]["message"]["content"] == "hello"


async def test_tenants_do_not_share_entries_unless_the_scope_is_shared() -> None:
    per_tenant = LookupCache(MemoryCacheStore(), CachePolicy(scope="tenant"))
    await miss_then_store(per_tenant, context("t1"), answer("stop"))
    other = context("t2")
    await per_tenant(other)
    assert other.cache_status is CacheStatus.MISS

    shared = LookupCache(MemoryCacheStore(), CachePolicy(scope="shared"))
    await miss_then_store(shared, context("t1"), answer("stop"))
    other = context("t2")
    await shared(other)
    assert other.cache_status is CacheStatus.HIT


async def test_the_tenant_mode_wins_over_the_catalog() -> None:
    on = LookupCache(MemoryCacheStore(), CachePolicy(mode="exact"))
    off_tenant = context(cache_mode="off")
    await miss_then_store(on, off_tenant, answer("stop"))
    assert off_tenant.cache_status is CacheStatus.BYPASS and off_tenant.cache_key is None
    assert (await on._store.get("anything")) is None

    off = LookupCache(MemoryCacheStore(), CachePolicy(mode="off"))
    await miss_then_store(off, context(cache_mode="exact"), answer("stop"))
    repeat = context(cache_mode="exact")
    await off(repeat)
    assert repeat.cache_status is CacheStatus.HIT
    catalog_default = context()
    await off(catalog_default)
    assert catalog_default.cache_status is CacheStatus.BYPASS


async def test_no_cache_skips_the_read_but_still_stores(stage: LookupCache) -> None:
    await miss_then_store(stage, context(), answer("stop"))
    no_cache = context(read=False)
    await stage(no_cache)
    assert no_cache.cache_status is CacheStatus.BYPASS and no_cache.result is None
    no_cache.completion = answer("length")
    await stage.remember(no_cache)          # the fresh answer replaces the stored one
    later = context()
    await stage(later)
    assert later.result is not None and later.result.body["choices"][0]["finish_reason"] == "length"


async def test_no_store_reads_but_never_writes(stage: LookupCache) -> None:
    no_store = context(write=False)
    await miss_then_store(stage, no_store, answer("stop"))
    assert no_store.cache_status is CacheStatus.MISS
    later = context()
    await stage(later)
    assert later.cache_status is CacheStatus.MISS
    await miss_then_store(stage, context(), answer("stop"))
    reader = context(write=False)
    await stage(reader)
    assert reader.cache_status is CacheStatus.HIT


async def test_no_cache_and_no_store_together_bypass_entirely(stage: LookupCache) -> None:
    ctx = context(read=False, write=False)
    await stage(ctx)
    assert ctx.cache_status is CacheStatus.BYPASS and ctx.cache_key is None


@pytest.mark.parametrize("spoil", ["error", "client_closed", "content_filter", "partial_n", "no_completion"])
async def test_only_successful_complete_answers_are_stored(stage: LookupCache, spoil: str) -> None:
    ctx = context(n=2) if spoil == "partial_n" else context()
    await stage(ctx)
    ctx.completion = answer("stop")
    if spoil == "error":
        ctx.fail(UpstreamError("upstream failed"))
    elif spoil == "client_closed":
        ctx.outcome = Outcome.CLIENT_CLOSED
    elif spoil == "content_filter":
        ctx.completion = answer("content_filter")
    elif spoil == "no_completion":
        ctx.completion = None
    await stage.remember(ctx)
    repeat = context(n=2) if spoil == "partial_n" else context()
    await stage(repeat)
    assert repeat.cache_status is CacheStatus.MISS


async def test_n_complete_choices_are_stored(stage: LookupCache) -> None:
    await miss_then_store(stage, context(n=2), answer("stop", "stop"))
    repeat = context(n=2)
    await stage(repeat)
    assert repeat.cache_status is CacheStatus.HIT and len(repeat.result.body["choices"]) == 2  # type: ignore[union-attr]


async def test_an_unreadable_entry_is_a_miss(stage: LookupCache) -> None:
    ctx = context()
    await stage(ctx)
    assert ctx.cache_key is not None
    await stage._store.set(ctx.cache_key, b"{not json", 60)
    repeat = context()
    await stage(repeat)
    assert repeat.cache_status is CacheStatus.MISS and repeat.result is None
