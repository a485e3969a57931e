"""Providers: every deployment's circuit breaker, error rate and latency, and for each vLLM
pool every replica's last scraped figures, score and breaker -- what GET /admin/providers
returns, read from memory (the pool scrapes its replicas off the request path)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.deps import RuntimeDep
from gateway.api.providers_admin import deployment_rows, pool_rows
from gateway.console.web import PREFIX, render, viewer
from gateway.routing.breaker import BreakerBoard

router = APIRouter(prefix=PREFIX)


@router.get("/providers")
async def providers_page(request: Request, runtime: RuntimeDep) -> Response:
    me = await viewer(request, runtime)
    breakers = runtime.breakers or BreakerBoard(runtime.catalog.routing.breaker)
    rows = deployment_rows(runtime, breakers, runtime.latency)
    pools = pool_rows(runtime)
    return render(request, "providers.html", me, rows=rows, pools=pools)
