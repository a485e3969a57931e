"""create_app(settings) -> FastAPI. The lifespan opens every resource and closes it."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from gateway.api import admin, completions, health, messages, openai, providers_admin, responses, usage
from gateway.console.mount import mount_console
from gateway.errors import GatewayError, InvalidRequest, NotFound
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings
from gateway.tenancy.service import NotFoundError, TenancyError

log = logging.getLogger("gateway.app")


def _error(error: GatewayError, request: Request) -> Response:
    headers = {**error.headers}
    request_id = request.headers.get("x-request-id")
    if request_id and len(request_id) <= 128 and request_id.isprintable():
        headers["x-request-id"] = request_id
    return Response(error.to_bytes(), status_code=error.status, media_type="application/json", headers=headers)


class _Internal(GatewayError):
    status = 500
    type = "api_error"
    default_code = "internal_error"


class _MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> Response:
        return _error(exc, request)

    @app.exception_handler(NotFoundError)
    async def tenancy_not_found(request: Request, exc: NotFoundError) -> Response:
        return _error(NotFound(str(exc), code="not_found"), request)

    @app.exception_handler(TenancyError)
    async def tenancy_error(request: Request, exc: TenancyError) -> Response:
        return _error(InvalidRequest(str(exc)), request)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":   # its loc is a byte offset, not a parameter
            return _error(InvalidRequest("The request body is not valid JSON."), request)
        param = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
        return _error(InvalidRequest(f"{param or 'request'}: {first.get('msg')}", param=param), request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return _error(_MethodNotAllowed("Method not allowed."), request)
        if exc.status_code == 404:
            return _error(NotFound(f"No route {request.url.path}.", code="not_found"), request)
        return _error(InvalidRequest(str(exc.detail)), request)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        return _unexpected(exc, request)


def _unexpected(exc: Exception, request: Request) -> Response:
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return _error(_Internal("The gateway failed to handle this request."), request)


HotRoute = Callable[[Request, Runtime], Awaitable[Response]]


class GatewayApp(FastAPI):
    """FastAPI, with the request path's POST routes called straight from here. FastAPI's
    layers around an endpoint (middleware, included-router matching, dependency solving,
    a tracer lookup in os.environ per request) were ~20% of the gateway's CPU per request
    in a py-spy profile (python -m bench.profile); these two routes need none of them. The
    routes stay registered with FastAPI too (same handlers), so other paths -- a trailing
    slash, a HEAD -- get FastAPI's answers."""

    hot_routes: dict[str, HotRoute]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            route = self.hot_routes.get(scope["path"])
            if route is not None:
                scope["app"] = self
                request = Request(scope, receive)
                try:
                    response = await route(request, self.state.runtime)
                except GatewayError as exc:
                    response = _error(exc, request)
                except Exception as exc:
                    response = _unexpected(exc, request)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


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

    app = GatewayApp(title="LLM gateway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.hot_routes = {}
    app.state.runtime = None
    app.state.owns_runtime = False
    app.state.background = set()
    install_error_handlers(app)
    app.include_router(health.router)
    if public:
        app.include_router(openai.router)
        app.include_router(responses.router)
        app.include_router(messages.router)
        app.include_router(completions.router)
        app.hot_routes = {"/v1/chat/completions": openai.chat_completions, "/v1/embeddings": openai.embeddings}
    if admin_api:
        app.include_router(health.metrics_router)   # tenant names in its labels: admin surface only
        app.include_router(admin.router)
        app.include_router(usage.router)
        app.include_router(providers_admin.router)
        mount_console(app, settings)
    return app
