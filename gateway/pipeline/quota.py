"""Stage 2: may this tenant (and this key) send one more request of this size now?
Reserves the request and its estimated tokens (prompt estimate + max_tokens, or the
configured default) and cost, against every limit at once; the charge stage settles the
reservation with actual usage. A 429 names the limit and says when the request would fit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from gateway.catalog import Catalog, Price
from gateway.errors import InvalidRequest, RateLimited
from gateway.limits.base import Limiter, QuotaRequest
from gateway.request import Operation, RequestContext
from gateway.telemetry import metrics
from gateway.tenancy.models import Limits
from providers.tokens import embedding_inputs, estimate_prompt_tokens, estimate_text_tokens

_MERGED_MAX = 10_000


class ReserveQuota:
    def __init__(self, limiter: Limiter, catalog: Catalog, default_max_tokens: int) -> None:
        self._limiter = limiter
        self._catalog = catalog
        self._default_max_tokens = default_max_tokens
        # Merged limits by (tier, overrides): pydantic's model_dump and the merge cost more
        # than the rest of the stage's Python, and a tenant's answer changes only with them.
        self._merged: dict[tuple[str, tuple[tuple[str, Any], ...]], Limits] = {}

    def limits_for(self, ctx: RequestContext) -> Limits:
        """The tenant's limits: its tier's, with the tenant's own overrides on top."""
        assert ctx.principal is not None
        tenant = ctx.principal.tenant
        key = (tenant.tier, tuple(sorted(tenant.limit_overrides.items())))
        limits = self._merged.get(key)
        if limits is None:
            tier = self._catalog.tiers.get(tenant.tier)
            tier_limits = tier.model_dump(exclude_none=True) if tier else {}
            limits = Limits.merged(tier_limits, tenant.limit_overrides)
            if len(self._merged) >= _MERGED_MAX:
                self._merged.clear()
            self._merged[key] = limits
        return limits

    def key_limits_for(self, ctx: RequestContext) -> Limits | None:
        """A key's own limits, counted for that key alone (the tenant's still apply)."""
        assert ctx.principal is not None
        limits = ctx.principal.key.limits
        return Limits.merged(limits) if limits else None

    def estimate(self, ctx: RequestContext) -> tuple[int, Decimal]:
        if ctx.operation is Operation.EMBEDDINGS:
            prompt, completion = sum(estimate_text_tokens(t) for t in embedding_inputs(ctx.request.body)), 0
        elif ctx.operation is Operation.RESPONSES:   # a Responses body, passed through
            body = ctx.request.body
            prompt = estimate_text_tokens(orjson.dumps([body.get("instructions"), body.get("input")]).decode())
            limit = body.get("max_output_tokens")
            completion = limit if isinstance(limit, int) and limit > 0 else self._default_max_tokens
        else:
            prompt = estimate_prompt_tokens(ctx.request.messages)
            completion = ctx.request.max_tokens or self._default_max_tokens
        cost = max((p.cost(prompt, completion) for p in self._prices(ctx.request.model)), default=Decimal(0))
        return prompt + completion, cost

    def _prices(self, name: str) -> list[Price]:
        """The prices `name` may be charged at: an alias may land on any of its models, so
        the budget check assumes the dearest."""
        models = self._catalog.models
        if name in models:
            return [models[name].price]
        alias = self._catalog.aliases.get(name)
        if alias is None:
            return []
        names = alias.models if alias.models is not None else [m for m, e in models.items() if e.kind == "chat"]
        return [models[m].price for m in names]

    async def __call__(self, ctx: RequestContext) -> None:
        tokens, cost = self.estimate(ctx)
        ctx.estimated_cost = cost
        assert ctx.principal is not None
        limits, key_limits = self.limits_for(ctx), self.key_limits_for(ctx)
        for owner, layer in (("tenant", limits), ("key", key_limits)):
            if layer is not None:
                _refuse_if_it_can_never_fit(tokens, cost, layer, owner)
        request = QuotaRequest(scope=ctx.tenant_name, limits=limits, tokens=tokens, usd=cost,
                               key_id=ctx.principal.key.id, key_limits=key_limits)
        try:
            ctx.reservation = await self._limiter.reserve(request)
        except RateLimited as exc:
            metrics.RATELIMIT_REJECTIONS.labels(ctx.tenant_name, exc.limit).inc()
            raise


def _refuse_if_it_can_never_fit(tokens: int, cost: Decimal, limits: Limits, owner: str) -> None:
    """A request larger than a whole window's limit would wait for ever: a 429 with a
    Retry-After of hours tells a client to retry what can never pass. It is the request
    that is wrong (usually max_tokens), so it is a 400 naming the limit."""
    for name, limit in (("tpm", limits.tpm), ("daily_tokens", limits.daily_tokens)):
        if limit is not None and tokens > limit:
            raise InvalidRequest(
                f"This request reserves an estimated {tokens} tokens (prompt estimate plus max_tokens), more than "
                f"the {owner}'s {name} limit of {limit}: it can never fit. Lower max_tokens or shorten the prompt.",
                param="max_tokens", code=f"exceeds_{name}")
    if limits.monthly_usd is not None and cost > limits.monthly_usd:
        raise InvalidRequest(
            f"This request's estimated cost of {cost:.6f} USD is more than the {owner}'s monthly_usd budget of "
            f"{limits.monthly_usd} USD: it can never fit. Lower max_tokens or shorten the prompt.",
            param="max_tokens", code="exceeds_monthly_usd")
