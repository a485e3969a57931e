"""Stage 8: metrics and one structured log line per request. Labels and log fields are
bounded and content-free: no key, no message text."""

from __future__ import annotations

import time

from gateway.catalog import Catalog
from gateway.pipeline.context import CacheStatus, RequestContext
from gateway.telemetry import metrics
from gateway.telemetry.logging import request_log


class RecordTelemetry:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def model_label(self, ctx: RequestContext) -> str:
        if ctx.route is not None:
            return ctx.route.model
        name = ctx.request.model
        # A name the client made up must not become a label value.
        return name if name in self._catalog.models or name in self._catalog.aliases else "unknown"

    async def __call__(self, ctx: RequestContext) -> None:
        finished = ctx.finished_at or time.perf_counter()
        duration = finished - ctx.started
        tenant = ctx.tenant_name
        model = self.model_label(ctx)
        provider = ctx.route.provider if ctx.route else ("cache" if ctx.cache_status is CacheStatus.HIT else "none")
        metrics.REQUESTS.labels(tenant, model, provider, str(ctx.http_status)).inc()
        metrics.REQUEST_DURATION.labels(provider, model).observe(duration)
        metrics.OVERHEAD.observe(max(0.0, duration - ctx.upstream_seconds))
        if ctx.first_token_at is not None and ctx.route is not None:
            metrics.TTFT.labels(provider, model).observe(ctx.first_token_at - ctx.started)
        usage = ctx.usage
        if usage is not None and ctx.cache_status is not CacheStatus.HIT and ctx.principal is not None:
            metrics.TOKENS.labels(tenant, model, "prompt").inc(usage.prompt_tokens)
            metrics.TOKENS.labels(tenant, model, "completion").inc(usage.completion_tokens)
            metrics.COST.labels(tenant, model).inc(float(ctx.cost))
        request_log.info("request", extra={
            "request_id": ctx.request_id,
            "tenant": tenant,
            "feature": ctx.feature,
            "model": model,
            "provider": provider,
            "status": ctx.http_status,
            "outcome": ctx.outcome.value,
            "error_code": ctx.error.code if ctx.error else None,
            "prompt_tokens": usage.prompt_tokens if usage else 0,
            "completion_tokens": usage.completion_tokens if usage else 0,
            "cost_usd": str(ctx.cost),
            "latency_ms": round(duration * 1000, 2),
            "ttft_ms": round((ctx.first_token_at - ctx.started) * 1000, 2) if ctx.first_token_at else None,
            "overhead_ms": round(max(0.0, duration - ctx.upstream_seconds) * 1000, 3),
            "cache": ctx.cache_status.value,
            "fallbacks": ctx.fallback_count,
            "redactions": sum(ctx.redactions.values()),
            "stream": ctx.request.stream,
        })
