"""The cache's read sent with the reservation (LookupCache.prefetch, started by the pipeline
before the quota stage): on real Redis, over the one pipelined connection the limiter and the
cache share, the reserve script and the GET go out in one send; a request the guardrails
would change is read only after them, under its redacted key; the quota's 429 still comes
before the guardrails' refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway import redis_mux
from gateway.cache.keys import cache_key
from gateway.cache.store import RedisCacheStore, cache_client
from gateway.catalog import CachePolicy, PiiPolicy, load_catalog
from gateway.errors import RateLimited
from gateway.limits.factory import limiter_client
from gateway.limits.redis import RedisLimiter
from gateway.pipeline import Pipeline
from gateway.pipeline.cache import LookupCache
from gateway.pipeline.guardrails import ScanForPii
from gateway.pipeline.quota import ReserveQuota
from gateway.request import CacheStatus, RequestContext
from tests.conftest import unique
from tests.unit.cache.test_lookup_stage import answer, context

pytestmark = pytest.mark.timeout(60)


async def nothing(ctx: RequestContext) -> None:
    return None


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[bytes]]]:
    """The commands of each send on the shared connection (their names)."""
    seen: list[list[bytes]] = []
    flush = redis_mux._Connection._flush

    def recording(self: redis_mux._Connection) -> None:
        if self._outgoing:
            seen.append([command.split(b"\r\n")[2].upper() for command in self._outgoing])
        flush(self)

    monkeypatch.setattr(redis_mux._Connection, "_flush", recording)
    yield seen


@pytest.fixture
async def stages(redis_url: str) -> AsyncIterator[dict[str, Any]]:
    limiter = RedisLimiter(limiter_client(redis_url), owns_client=True)
    store = RedisCacheStore(cache_client(redis_url), owns_client=True)
    yield {"quota": ReserveQuota(limiter, load_catalog(None), default_max_tokens=64),
           "cache": LookupCache(store, CachePolicy(mode="exact")), "store": store,
           "guardrails": ScanForPii(PiiPolicy(mode="block"))}
    await limiter.close()
    await store.close()


def pipeline(stages: dict[str, Any]) -> Pipeline:
    others: dict[str, Any] = {name: nothing for name in ("auth", "allowlist", "router", "charge", "telemetry")}
    return Pipeline(quota=stages["quota"], guardrails=stages["guardrails"], cache=stages["cache"], **others)


def limited(tenant: str, rpm: int, text: str) -> RequestContext:
    ctx = context(tenant, messages=[{"role": "user", "content": text}])
    assert ctx.principal is not None
    ctx.principal = replace(ctx.principal, tenant=replace(ctx.principal.tenant, limit_overrides={"rpm": rpm}))
    return ctx


async def test_the_reservation_and_the_cache_read_go_in_one_send(stages: dict[str, Any],
                                                                 sends: list[list[bytes]]) -> None:
    tenant = unique()
    ctx = limited(tenant, 5, "What is the capital of France?")
    await stages["store"].set(cache_key(tenant, ctx.request.model, ctx.request.body), answer("stop"), 60)
    sends.clear()
    await pipeline(stages).run(ctx)
    assert ctx.cache_status is CacheStatus.HIT
    assert [b"EVALSHA", b"GET"] in sends or [b"EVAL", b"GET"] in sends, sends
    assert not [s for s in sends if s == [b"GET"]]        # no second read


async def test_a_request_the_guardrails_change_is_read_after_them_under_its_redacted_key(
        redis_url: str, stages: dict[str, Any], sends: list[list[bytes]]) -> None:
    stages["guardrails"] = ScanForPii(PiiPolicy(mode="redact"))
    tenant = unique()
    ctx = limited(tenant, 5, "Mail me at jane.doe@example.com please")
    redacted = limited(tenant, 5, "Mail me at [REDACTED-EMAIL] please")
    await stages["store"].set(cache_key(tenant, redacted.request.model, redacted.request.body), answer("stop"), 60)
    admin = Redis.from_url(redis_url)
    raw_key = cache_key(tenant, ctx.request.model, ctx.request.body)
    sends.clear()
    await pipeline(stages).run(ctx)
    await admin.aclose()
    assert ctx.cache_prefetch is None and ctx.redactions["email"] == 1
    assert ctx.cache_status is CacheStatus.HIT                # found under the redacted text's key
    assert [b"GET"] in sends and not [s for s in sends if b"EVALSHA" in s and b"GET" in s]
    assert ctx.cache_key != raw_key


async def test_the_quota_refusal_still_comes_before_the_guardrails_one(stages: dict[str, Any]) -> None:
    tenant = unique()
    await pipeline(stages).run(limited(tenant, 1, "hello"))
    with pytest.raises(RateLimited):                         # not ContentBlocked: quota is stage 2
        await pipeline(stages).run(limited(tenant, 1, "my ssn is 123-45-6789"))


async def test_a_clean_request_is_scanned_once(stages: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.pipeline import guardrails

    scans: list[int] = []
    scan = guardrails.scan_messages  # type: ignore[attr-defined]

    def counting(*args: Any, **kwargs: Any) -> Any:
        scans.append(1)
        return scan(*args, **kwargs)

    monkeypatch.setattr(guardrails, "scan_messages", counting)
    await pipeline(stages).run(limited(unique(), 5, "nothing personal here"))
    assert len(scans) == 1
