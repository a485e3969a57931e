"""The charge stage builds the right usage record: exact cost from the price table (cached
input at its own price), zero for a cache hit with the tokens it saved, who and what for,
and client text cut to its column's width."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from gateway.catalog import parse_catalog
from gateway.limits.memory import MemoryLimiter
from gateway.pipeline.charge import Charge
from gateway.request import CacheStatus, Outcome, RequestContext, Route
from gateway.tenancy.models import ApiKey, Principal, Tenant
from gateway.usage.outbox import UsageOutbox
from gateway.usage.record import UsageRecord
from providers.base import ChatRequest, Usage

CATALOG = parse_catalog("""
providers:
  mock: {type: mock}
models:
  gpt-4o-mini:
    price: {input: 0.15, output: 0.60, cached_input: 0.075}
    deployments: [{provider: mock, upstream: gpt-4o-mini-2024-07-18}]
  no-cached-price:
    price: {input: 3, output: 15}
    deployments: [{provider: mock, upstream: echo}]
""")


class RecordingOutbox(UsageOutbox):
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    async def append(self, record: UsageRecord) -> None:
        self.records.append(record)

    async def pending(self) -> int:
        return len(self.records)


def context(model: str = "gpt-4o-mini", **body: object) -> RequestContext:
    ctx = RequestContext(request_id="req-1", request=ChatRequest({"model": model, "messages": [], **body}),
                         api_key="sk-x", feature="search")
    ctx.principal = Principal(tenant=Tenant(id="t1", name="acme", tier="pro", models=("*",)),
                              key=ApiKey(id="k1", tenant_id="t1", prefix="sk-acme-abc", label=None,
                                         expires_at=None, revoked_at=None))
    return ctx


async def charge(ctx: RequestContext) -> UsageRecord:
    outbox = RecordingOutbox()
    await Charge(MemoryLimiter(), outbox, CATALOG)(ctx)
    [record] = outbox.records
    return record


async def test_cost_is_tokens_times_price_with_cached_input_at_its_own_price() -> None:
    ctx = context(user="end-user-7")
    ctx.route = Route(model="gpt-4o-mini", provider="mock", upstream_model="gpt-4o-mini-2024-07-18")
    ctx.usage = Usage(prompt_tokens=1_234, completion_tokens=567, cached_tokens=1_000)
    ctx.redactions = Counter({"email": 2, "ssn": 1})
    record = await charge(ctx)
    expected = (234 * Decimal("0.15") + 1_000 * Decimal("0.075") + 567 * Decimal("0.60")) / 1_000_000
    assert record.cost_usd == expected == Decimal("0.0004503")
    assert (record.tenant, record.key_id, record.feature, record.end_user) == ("acme", "k1", "search", "end-user-7")
    assert (record.model, record.provider, record.upstream_model) == ("gpt-4o-mini", "mock", "gpt-4o-mini-2024-07-18")
    assert (record.prompt_tokens, record.completion_tokens, record.cached_tokens) == (1_234, 567, 1_000)
    assert record.redactions == 3 and not record.cache_hit


async def test_cached_tokens_without_a_cached_price_cost_the_input_price() -> None:
    ctx = context("no-cached-price")
    ctx.route = Route(model="no-cached-price", provider="mock", upstream_model="echo")
    ctx.usage = Usage(prompt_tokens=100, completion_tokens=10, cached_tokens=40)
    assert (await charge(ctx)).cost_usd == (100 * Decimal(3) + 10 * Decimal(15)) / 1_000_000


async def test_a_cache_hit_costs_nothing_and_keeps_the_tokens_it_saved() -> None:
    ctx = context()
    ctx.cache_status = CacheStatus.HIT
    ctx.usage = Usage(prompt_tokens=50, completion_tokens=20)
    record = await charge(ctx)
    assert record.cost_usd == 0 and record.cache_hit
    assert (record.prompt_tokens, record.completion_tokens) == (50, 20)
    assert (record.model, record.provider) == ("gpt-4o-mini", "cache")


async def test_a_rejected_request_is_recorded_without_cost() -> None:
    ctx = context("x" * 500)
    ctx.outcome, ctx.http_status = Outcome.REJECTED, 404
    record = await charge(ctx)
    assert (record.status, record.http_status, record.cost_usd) == ("rejected", 404, Decimal(0))
    assert record.requested_model == "x" * 128 and record.model is None


async def test_an_unauthenticated_request_has_nobody_to_charge() -> None:
    ctx = context()
    ctx.principal = None
    outbox = RecordingOutbox()
    await Charge(MemoryLimiter(), outbox, CATALOG)(ctx)
    assert outbox.records == []


async def test_cost_is_stored_at_ten_decimal_places_rounding_half_up() -> None:
    ctx = context("no-cached-price")
    ctx.route = Route(model="no-cached-price", provider="mock", upstream_model="echo")
    ctx.usage = Usage(prompt_tokens=1, completion_tokens=0)
    assert (await charge(ctx)).cost_usd == Decimal("0.0000030000")
