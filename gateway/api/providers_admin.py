"""GET /admin/providers: every deployment's circuit breaker state, its recent error rate
and its measured latency, so that an operator sees why traffic moved; and, for each vLLM
pool, every replica's last scraped figures, score and breaker (`pools`). The viewer role or
the admin key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gateway.api.admin import ViewerRuntime
from gateway.routing.breaker import BreakerBoard
from gateway.routing.latency import LatencyTracker
from gateway.runtime import Runtime
from providers.vllm import VLLMProvider

router = APIRouter(prefix="/admin")


def deployment_rows(runtime: Runtime, breakers: BreakerBoard, latency: LatencyTracker) -> list[dict[str, Any]]:
    rows = []
    for model, entry in runtime.catalog.models.items():
        for deployment in entry.deployments:
            view = breakers.view(deployment.provider, deployment.upstream)
            ttft = latency.estimate(model, deployment.provider)
            rows.append({
                "model": model,
                "provider": deployment.provider,
                "upstream": deployment.upstream,
                "state": view.state.label,
                "retry_after_seconds": round(view.retry_after, 3),
                "window_seconds": breakers.policy.window_seconds,
                "requests": view.calls,
                "failures": view.failures,
                "error_rate": round(view.error_rate, 4),
                "latency_ewma_ms": round(ttft * 1000, 1) if ttft is not None else None,
            })
    return rows


@router.get("/providers")
async def list_providers(runtime: ViewerRuntime) -> dict[str, Any]:
    breakers = runtime.breakers
    if breakers is None:   # a runtime built without a router (never by open_runtime)
        breakers = BreakerBoard(runtime.catalog.routing.breaker)
    return {"data": deployment_rows(runtime, breakers, runtime.latency), "pools": pool_rows(runtime)}


def pool_rows(runtime: Runtime) -> list[dict[str, Any]]:
    return [provider.status() for provider in runtime.providers.values() if isinstance(provider, VLLMProvider)]
