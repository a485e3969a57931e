"""Stage 7: actual usage replaces the reservation; cost from the price table; one usage
record queued to the outbox (no database write on the request path). Runs for every
request, failed and rejected ones included, so every reservation is settled.

A cache hit is recorded at zero cost with the tokens it saved, under the model asked for
and the provider `cache`. Text a client sent (model name, `user`) is cut to its column's
width here, so that no record can be refused by the database."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

from gateway.catalog import Catalog
from gateway.limits.base import Limiter
from gateway.request import CacheStatus, RequestContext
from gateway.usage.outbox import UsageOutbox
from gateway.usage.record import UsageRecord
from gateway.usage.tables import to_money
from providers.base import Usage

log = logging.getLogger("gateway.charge")


class Charge:
    def __init__(self, limiter: Limiter, outbox: UsageOutbox, catalog: Catalog) -> None:
        self._limiter = limiter
        self._outbox = outbox
        self._catalog = catalog

    def cost_of(self, ctx: RequestContext, usage: Usage) -> Decimal:
        if ctx.cache_status is CacheStatus.HIT or ctx.route is None:
            return Decimal(0)
        return self._price(ctx.route.model, usage)

    def _price(self, model: str | None, usage: Usage) -> Decimal:
        entry = self._catalog.models.get(model) if model is not None else None
        if entry is None:
            return Decimal(0)
        return entry.price.cost(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)

    async def __call__(self, ctx: RequestContext) -> None:
        """Settles the reservation and queues the record at once (two commands, one round
        trip); a failed settlement does not hold back the record. Answers received but not
        sent (a response validation's retry: ctx.unsent) are charged with the one sent:
        their tokens and cost add up in the one record."""
        usage = ctx.usage or Usage()
        ctx.cost = self.cost_of(ctx, usage)
        if ctx.unsent:
            for route, spent in ctx.unsent:
                ctx.cost += self._price(route.model if route else None, spent)
                usage = Usage(usage.prompt_tokens + spent.prompt_tokens,
                              usage.completion_tokens + spent.completion_tokens,
                              usage.cached_tokens + spent.cached_tokens)
            ctx.usage = usage
        if ctx.principal is None:
            await self._settle(ctx, usage)
            return  # unauthenticated: nobody to charge; telemetry still counts it
        await asyncio.gather(self._settle(ctx, usage), self._outbox.append(self.record_of(ctx, usage)))

    async def _settle(self, ctx: RequestContext, usage: Usage) -> None:
        if ctx.reservation is None or ctx.reservation.settled:
            return
        charged_tokens = 0 if ctx.cache_status is CacheStatus.HIT else usage.total_tokens
        try:
            await self._limiter.settle(ctx.reservation, charged_tokens, ctx.cost)
        except Exception:  # a limiter outage must not lose the usage record
            log.warning("reservation not settled", extra={"request_id": ctx.request_id}, exc_info=True)

    def record_of(self, ctx: RequestContext, usage: Usage) -> UsageRecord:
        assert ctx.principal is not None
        finished = ctx.finished_at or time.perf_counter()
        route = ctx.route
        hit = ctx.cache_status is CacheStatus.HIT
        model, provider = (route.model, route.provider) if route else (None, None)
        if hit and route is None:
            model = ctx.request.model if ctx.request.model in self._catalog.models else None
            provider = "cache"
        return UsageRecord(
            request_id=ctx.request_id,
            client_request_id=ctx.client_request_id,
            tenant=ctx.principal.tenant.name,
            key_id=ctx.principal.key.id,
            feature=ctx.feature,
            end_user=_end_user(ctx),
            requested_model=ctx.request.model[:128] or None,
            model=model,
            provider=provider,
            upstream_model=route.upstream_model if route else None,
            status=ctx.outcome.value,
            http_status=ctx.http_status,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cost_usd=to_money(ctx.cost),
            latency_ms=round((finished - ctx.started) * 1000),
            ttft_ms=round((ctx.first_token_at - ctx.started) * 1000) if ctx.first_token_at else None,
            fallback_count=ctx.fallback_count,
            stream=ctx.request.stream,
            cache_hit=hit,
            cache_match=ctx.cache_match if hit else None,
            cache_similarity=ctx.cache_similarity if hit else None,
            redactions=sum(ctx.redactions.values()),
            api=ctx.api.value,
            prompt_id=ctx.prompt_id,
            prompt_version=ctx.prompt_version,
            validation=ctx.validation,
        )


def _end_user(ctx: RequestContext) -> str | None:
    user = ctx.request.body.get("user")
    return user[:256] if isinstance(user, str) else None
