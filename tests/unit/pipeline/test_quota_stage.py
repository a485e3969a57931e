"""Stage 2 with the in-process limiter: what it reserves (estimate, dearest price of an
alias), the tenant's merged limits and a key's own, and a 429 that names its limit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.catalog import parse_catalog
from gateway.errors import RateLimited
from gateway.limits.memory import MemoryLimiter
from gateway.pipeline.quota import ReserveQuota
from gateway.request import Operation, RequestContext
from gateway.telemetry import metrics
from gateway.tenancy.models import ApiKey, Principal, Tenant
from providers.base import ChatRequest
from providers.tokens import estimate_prompt_tokens

CATALOG = parse_catalog("""
providers: {mock: {type: mock}}
models:
  cheap:  {price: {input: 1, output: 2}, deployments: [{provider: mock, upstream: echo}]}
  dear:   {price: {input: 10, output: 20}, deployments: [{provider: mock, upstream: echo}]}
  emb:    {kind: embeddings, price: {input: 1, output: 0}, deployments: [{provider: mock, upstream: embed}]}
aliases: {auto: {models: [cheap, dear]}}
tiers:
  free: {rpm: 2, tpm: 1000}
""")
MESSAGES = [{"role": "user", "content": "hello there"}]


def context(body: dict[str, object], *, tenant: str = "t", overrides: dict[str, object] | None = None,
            key_limits: dict[str, object] | None = None, operation: Operation = Operation.CHAT) -> RequestContext:
    ctx = RequestContext(request_id="r", request=ChatRequest(dict(body)), api_key=None, operation=operation)
    ctx.principal = Principal(Tenant(id=tenant, name=tenant, tier="free", models=("*",),
                                     limit_overrides=dict(overrides or {})),
                              ApiKey(id=f"{tenant}-k", tenant_id=tenant, prefix="sk-t", label=None, expires_at=None,
                                     revoked_at=None, limits=key_limits))
    return ctx


@pytest.fixture
def stage() -> ReserveQuota:
    return ReserveQuota(MemoryLimiter(), CATALOG, default_max_tokens=100)


async def test_it_reserves_the_prompt_estimate_plus_max_tokens_or_the_default(stage: ReserveQuota) -> None:
    prompt = estimate_prompt_tokens(MESSAGES)
    given = context({"model": "cheap", "messages": MESSAGES, "max_tokens": 7})
    await stage(given)
    assert given.reservation is not None and given.reservation.request.tokens == prompt + 7
    defaulted = context({"model": "cheap", "messages": MESSAGES}, tenant="u")
    await stage(defaulted)
    assert defaulted.reservation is not None and defaulted.reservation.request.tokens == prompt + 100
    assert defaulted.estimated_cost == Decimal(prompt * 1 + 100 * 2) / 1_000_000


async def test_an_alias_reserves_at_its_dearest_models_price(stage: ReserveQuota) -> None:
    ctx = context({"model": "auto", "messages": MESSAGES, "max_tokens": 10})
    await stage(ctx)
    prompt = estimate_prompt_tokens(MESSAGES)
    assert ctx.estimated_cost == Decimal(prompt * 10 + 10 * 20) / 1_000_000


async def test_embeddings_reserve_their_inputs_and_no_completion(stage: ReserveQuota) -> None:
    ctx = context({"model": "emb", "input": ["a b c", "d"]}, operation=Operation.EMBEDDINGS)
    await stage(ctx)
    assert ctx.reservation is not None and 0 < ctx.reservation.request.tokens < 10


def test_the_tenants_overrides_win_over_its_tier_and_a_keys_limits_stand_alone(stage: ReserveQuota) -> None:
    ctx = context({"model": "cheap", "messages": MESSAGES}, overrides={"rpm": 50}, key_limits={"tpm": 5})
    limits = stage.limits_for(ctx)
    assert (limits.rpm, limits.tpm) == (50, 1000)
    key_limits = stage.key_limits_for(ctx)
    assert key_limits is not None and (key_limits.rpm, key_limits.tpm) == (None, 5)
    assert stage.limits_for(ctx) is limits                    # merged once per (tier, overrides)


async def test_the_limit_that_refuses_is_named_counted_and_says_when_to_retry(stage: ReserveQuota) -> None:
    before = metrics.RATELIMIT_REJECTIONS.labels("busy", "rpm")._value.get()
    for _ in range(2):
        await stage(context({"model": "cheap", "messages": MESSAGES}, tenant="busy"))
    with pytest.raises(RateLimited) as refused:
        await stage(context({"model": "cheap", "messages": MESSAGES}, tenant="busy"))
    assert refused.value.limit == "rpm" and refused.value.status == 429
    assert int(refused.value.headers["Retry-After"]) >= 1
    assert metrics.RATELIMIT_REJECTIONS.labels("busy", "rpm")._value.get() == before + 1
