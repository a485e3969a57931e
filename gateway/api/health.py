"""Liveness and readiness (on every listener), and the Prometheus scrape endpoint, which goes
with the admin surface: its labels name tenants, so with `serve --admin-port` it is served on
the admin port only, never on the public one."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from gateway.api.deps import RuntimeDep
from gateway.runtime import Runtime
from gateway.telemetry.exposition import render_metrics
from providers.vllm import VLLMProvider

router = APIRouter()
metrics_router = APIRouter()
_CHECK_TIMEOUT = 2.0


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    checks: dict[str, str] = {}
    if runtime.draining:
        checks["gateway"] = "draining"
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT):
            async with runtime.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable ({type(exc).__name__})"
    if runtime.redis is not None:
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT):
                await runtime.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unreachable ({type(exc).__name__})"
    ready = all(v == "ok" for v in checks.values())
    body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": checks}
    pools = _pools(runtime)
    if pools:
        body["pools"] = pools
    drain = runtime.outbox.drain_state
    if drain is not None:
        # Shown, not a readiness condition: a drain restarting must not take every replica
        # out of service; records wait in Redis meanwhile.
        body["usage_drain"] = {"drainers": drain.drainers, "backlog": drain.backlog,
                               "status": "ok" if drain.drainers or not drain.backlog else "nobody draining"}
    return JSONResponse(body, status_code=200 if ready else 503)


def _pools(runtime: Runtime) -> dict[str, str]:
    """Each vLLM pool's live replicas, shown but not gating readiness: a pool's outage is the
    router's to handle (other models still serve), and failing every gateway pod's readiness
    for it would turn one model's outage into a total one."""
    pools: dict[str, str] = {}
    for name, provider in runtime.providers.items():
        if isinstance(provider, VLLMProvider):
            status = provider.status()
            pools[name] = f"{status['live']}/{len(status['replicas'])} replicas live"
    return pools


@metrics_router.get("/metrics")
async def metrics() -> Response:
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)
