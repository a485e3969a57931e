"""create_app(settings) -> FastAPI. The lifespan opens every resource and closes it."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.api import (
    admin,
    completions,
    health,
    messages,
    openai,
    openapi,
    prompts_admin,
    providers_admin,
    responses,
    usage,
)
from gateway.api.dispatch import HotRoute, HotRoutes
from gateway.api.errors import response_for
from gateway.console.mount import mount_console
from gateway.errors import GatewayError
from gateway.runtime import open_runtime
from gateway.settings import Settings
from gateway.tenancy.service import NotFoundError, TenancyError

log = logging.getLogger("gateway.app")


# FastAPI's native telemetry (0.16x) traces, meters and logs every request once a global
# OpenTelemetry provider exists -- its logs with exception messages -- and looks for one on
# every request (~4.7 us, measured). The gateway makes its own spans, without user text
# (gateway.telemetry.tracing), and sets no global provider: FastAPI's are off. Older FastAPI
# versions have no such parameter.
_NO_NATIVE_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})


def install_error_handlers(app: FastAPI) -> None:
    """Every exception takes the one error path (gateway/api/errors.py)."""
    for exc_class in (GatewayError, NotFoundError, TenancyError, RequestValidationError,
                      StarletteHTTPException, Exception):
        app.add_exception_handler(exc_class, _handle)


async def _handle(request: Request, exc: Exception) -> Response:
    return response_for(exc, request)


def _freeze_startup_heap() -> None:
    """Moves everything allocated at start-up (modules, the catalog, pools) out of the
    garbage collector's reach. A full collection otherwise walks those ~10^5 long-lived
    objects and stalls the event loop for tens of milliseconds: the overhead p99 at
    200 req/s was 61 ms before this (bench/run.py)."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, *, public: bool = True, admin_api: bool = True) -> FastAPI:
    """`public` serves the OpenAI routes, `admin_api` the /admin routes and the console at
    /admin/ui/; `serve --admin-port` builds one app of each so that the admin API is absent
    from the public listener, `serve --admin-only` only the admin one."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "runtime", None) is None:
            app.state.runtime = await open_runtime(settings)
            app.state.owns_runtime = True
        _freeze_startup_heap()
        try:
            yield
        finally:
            if app.state.background:
                await asyncio.wait(set(app.state.background), timeout=settings.shutdown_grace_seconds)
            if app.state.owns_runtime:
                await app.state.runtime.close()

    app = FastAPI(title="LLM gateway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None,
                  **_NO_NATIVE_TELEMETRY)
    hot_routes: dict[str, HotRoute] = {}
    app.add_middleware(HotRoutes, routes=hot_routes)   # first: middleware added later wraps it
    app.state.hot_routes = hot_routes
    app.state.runtime = None
    app.state.owns_runtime = False
    app.state.background = set()
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(openapi.router)   # the document of the routes this app serves
    if public:
        app.include_router(openai.router)
        app.include_router(responses.router)
        app.include_router(messages.router)
        app.include_router(completions.router)
        hot_routes.update({"/v1/chat/completions": openai.chat_completions, "/v1/embeddings": openai.embeddings})
    if admin_api:
        app.include_router(health.metrics_router)   # tenant names in its labels: admin surface only
        app.include_router(admin.router)
        app.include_router(usage.router)
        app.include_router(providers_admin.router)
        app.include_router(prompts_admin.router)
        mount_console(app, settings)
    return app
