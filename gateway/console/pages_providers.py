"""Providers: every deployment's circuit breaker, error rate and latency (what GET
/admin/providers returns), and for a provider with several replicas (a vLLM pool) each
replica and whether it answers its health check now."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.deps import RuntimeDep
from gateway.api.providers_admin import deployment_rows
from gateway.console.web import PREFIX, render, viewer
from gateway.routing.breaker import BreakerBoard

router = APIRouter(prefix=PREFIX)
_HEALTH_TIMEOUT = 2.0


@router.get("/providers")
async def providers_page(request: Request, runtime: RuntimeDep) -> Response:
    me = await viewer(request, runtime)
    breakers = runtime.breakers or BreakerBoard(runtime.catalog.routing.breaker)
    rows = deployment_rows(runtime, breakers, runtime.latency)
    pools: list[dict[str, Any]] = []
    for name, provider in runtime.providers.items():
        endpoints = getattr(provider, "endpoints", None)
        if not isinstance(endpoints, list | tuple) or not endpoints:
            continue
        try:
            async with asyncio.timeout(_HEALTH_TIMEOUT):
                health = await provider.health()
            detail = health.detail or ("healthy" if health.ok else "unhealthy")
        except TimeoutError:
            detail = "no answer within 2 s"
        pools.append({"name": name, "type": runtime.catalog.providers[name].type, "replicas": list(endpoints),
                      "health": detail})
    return render(request, "providers.html", me, rows=rows, pools=pools)
