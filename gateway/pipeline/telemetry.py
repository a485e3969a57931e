"""Stage 8: metrics, the request's spans and one structured log line per request. Labels,
span attributes and log fields are bounded and content-free: no key, no message text.

Overhead is the request's duration minus the time spent waiting on upstreams (connect,
headers, every stream chunk), up to the moment the answer was complete. For a
non-streamed answer the same figure is the `x-gateway-overhead-ms` response header; a
stream's headers leave before its overhead is known, so streams report it here only.
"""

from __future__ import annotations

import logging
import time

from gateway.catalog import Catalog
from gateway.request import CacheStatus, RequestContext
from gateway.telemetry import metrics, tracing
from gateway.telemetry.logging import request_log
from providers import provider_class


class RecordTelemetry:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._genai_systems = {name: provider_class(entry.type).genai_system
                               for name, entry in catalog.providers.items()}

    def model_label(self, ctx: RequestContext) -> str:
        if ctx.route is not None:
            return ctx.route.model
        name = ctx.request.model
        # A name the client made up must not become a label value.
        return name if name in self._catalog.models or name in self._catalog.aliases else "unknown"

    def _genai_system(self, ctx: RequestContext) -> str | None:
        return self._genai_systems.get(ctx.route.provider) if ctx.route is not None else None

    async def __call__(self, ctx: RequestContext) -> None:
        finished = ctx.finished_at or time.perf_counter()
        duration = finished - ctx.started
        overhead = max(0.0, duration - ctx.upstream_seconds)
        tenant = ctx.tenant_name
        model = self.model_label(ctx)
        provider = ctx.route.provider if ctx.route else ("cache" if ctx.cache_status is CacheStatus.HIT else "none")
        metrics.child(metrics.REQUESTS, tenant, model, provider, str(ctx.http_status)).inc()
        metrics.child(metrics.REQUEST_DURATION, provider, model).observe(duration)
        metrics.OVERHEAD.observe(overhead)
        ttft = ctx.first_token_at - ctx.started if ctx.first_token_at is not None else None
        if ttft is not None and ctx.route is not None:
            metrics.child(metrics.TTFT, provider, model).observe(ttft)
        usage = ctx.usage
        if usage is not None and ctx.cache_status is not CacheStatus.HIT and ctx.principal is not None:
            metrics.child(metrics.TOKENS, tenant, model, "prompt").inc(usage.prompt_tokens)
            metrics.child(metrics.TOKENS, tenant, model, "completion").inc(usage.completion_tokens)
            metrics.child(metrics.COST, tenant, model).inc(float(ctx.cost))
        ids = tracing.end_request(ctx, model=model, genai_system=self._genai_system(ctx))
        # A failure of the gateway or its upstreams is a warning; a client's mistake is not.
        level = logging.WARNING if ctx.http_status >= 500 else logging.INFO
        request_log.log(level, "request", extra={
            "request_id": ctx.request_id,
            "client_request_id": ctx.client_request_id,
            "trace_id": ids.trace_id if ids else None,
            "span_id": ids.span_id if ids else None,
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
            "ttft_ms": round(ttft * 1000, 2) if ttft is not None else None,
            "overhead_ms": round(overhead * 1000, 3),
            "upstream_ms": round(ctx.upstream_seconds * 1000, 2),
            "cache": ctx.cache_status.value,
            "fallbacks": ctx.fallback_count,
            "upstream_errors": [f"{a.provider}:{a.error_kind}" for a in ctx.attempts if a.error_kind],
            "redactions": sum(ctx.redactions.values()),
            "stream": ctx.request.stream,
            "api": ctx.api.value,
            "validation": ctx.validation,    # the answer's JSON Schema verdict, when it was judged
        })
