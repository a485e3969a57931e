"""The OpenAI-compatible routes: chat completions, models, embeddings."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from gateway.api.body import check_chat_body, check_embeddings_body, read_json
from gateway.api.deps import RuntimeDep, bearer_token
from gateway.api.streaming import finish_detached, relay, replayed
from gateway.cache.replay import replay_chunks
from gateway.errors import GatewayError
from gateway.limits.base import Reservation
from gateway.limits.headers import ratelimit_headers
from gateway.request import CacheStatus, Operation, Outcome, RequestContext
from gateway.runtime import Runtime
from gateway.telemetry import tracing
from providers.base import ChatRequest

router = APIRouter()

JSON_TYPE = "application/json"
_REQUEST_ID_MAX = 128


def new_request_id() -> str:
    return f"req_{os.urandom(16).hex()}"   # 128 random bits, like uuid4's hex without building a UUID


def client_request_id(request: Request) -> str | None:
    """The client's x-request-id, when it is one we can echo and store."""
    given = request.headers.get("x-request-id", "")
    if given and len(given) <= _REQUEST_ID_MAX and given.isprintable():
        return given
    return None


def request_id_of(request: Request) -> str:
    """The id a client knows this request by: its own x-request-id, or a new one."""
    return client_request_id(request) or new_request_id()


def rate_limit_headers(reservation: Reservation | None) -> dict[str, str]:
    """x-ratelimit-* of an admitted request (a 429 carries its own, from the limiter)."""
    if reservation is None:
        return {}
    return ratelimit_headers(reservation.requests, reservation.tokens)


def response_headers(ctx: RequestContext) -> dict[str, str]:
    headers = {"x-request-id": ctx.client_request_id or ctx.request_id, "x-gateway-request-id": ctx.request_id,
               "x-gateway-cache": ctx.cache_status.value,
               **rate_limit_headers(ctx.reservation)}
    if ctx.route is not None:
        headers["x-gateway-provider"] = ctx.route.provider
    elif ctx.cache_status is CacheStatus.HIT:
        headers["x-gateway-provider"] = "cache"
    return headers


def error_response(error: GatewayError, headers: dict[str, str]) -> Response:
    return Response(error.to_bytes(), status_code=error.status, media_type=JSON_TYPE,
                    headers={**headers, **error.headers})


def _cache_flags(request: Request) -> tuple[bool, bool]:
    header = request.headers.get("cache-control")
    if not header:
        return True, True
    directives = {d.strip().lower() for d in header.split(",")}
    return "no-cache" not in directives, "no-store" not in directives


def _feature(request: Request, body: dict[str, Any]) -> str | None:
    feature = request.headers.get("x-gateway-feature")
    if feature is None:
        metadata = body.get("metadata")
        value = metadata.get("feature") if isinstance(metadata, dict) else None
        feature = value if isinstance(value, str) else None
    return feature[:128] if feature else None


class ClientLeft(Exception):
    """The client closed its connection while the pipeline worked on its request."""


async def _disconnected(request: Request) -> None:
    # The body is read by now, so the next ASGI message is the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def run_unless_client_leaves(request: Request, work: Coroutine[Any, Any, None]) -> None:
    """Runs `work` in this task, cancelling it -- and the upstream call inside it -- the
    moment the client disconnects (then raises ClientLeft). The server does not cancel a
    handler whose client left, and nothing else reads the connection while a non-streamed
    answer is awaited, so a watcher task does."""
    route = asyncio.current_task()
    assert route is not None
    working, left = True, False

    async def watch() -> None:
        nonlocal left
        await _disconnected(request)
        if working:
            left = True
            route.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        await work
    except asyncio.CancelledError:
        if not left:
            raise
        route.uncancel()                    # our own cancellation, handled here
        raise ClientLeft from None
    finally:
        working = False
        watcher.cancel()


async def admit(request: Request, runtime: Runtime, ctx: RequestContext,
                check_body: Callable[[dict[str, Any]], None]) -> Response | None:
    """Reads the body and runs stages 1-6. Returns the response that ends the request when
    a stage refused it or the client left (the finishers have run), else None."""
    background: set[asyncio.Task[None]] = request.app.state.background
    try:
        body = await read_json(request, runtime.settings.max_body_bytes)
        check_body(body)
        ctx.request = ChatRequest(body)
        ctx.feature = _feature(request, body)
        await run_unless_client_leaves(request, runtime.pipeline.run(ctx))
    except GatewayError as error:
        ctx.fail(error, Outcome.ERROR if ctx.attempts else Outcome.REJECTED)
        ctx.finished_at = time.perf_counter()
        await finish_detached(ctx, runtime.pipeline, background)
        return error_response(error, response_headers(ctx))
    except BaseException as exc:
        ctx.outcome = Outcome.CLIENT_CLOSED
        ctx.http_status = 499
        ctx.finished_at = time.perf_counter()
        await finish_detached(ctx, runtime.pipeline, background, getattr(ctx.stream, "aclose", None))
        if isinstance(exc, ClientLeft):
            return Response(status_code=499)    # nobody is there to read it
        raise
    return None


def new_context(request: Request, operation: Operation = Operation.CHAT) -> RequestContext:
    read_cache, write_cache = _cache_flags(request)
    return RequestContext(request_id=new_request_id(), client_request_id=client_request_id(request),
                          request=ChatRequest({}), api_key=bearer_token(request), operation=operation,
                          cache_read=read_cache, cache_write=write_cache)


def _overhead_ms(ctx: RequestContext) -> str:
    assert ctx.finished_at is not None
    return f"{max(0.0, ctx.finished_at - ctx.started - ctx.upstream_seconds) * 1000:.2f}"


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, runtime: RuntimeDep) -> Response:
    tracing.begin_request(request.headers)   # the server span; ended by the telemetry stage
    ctx = new_context(request)
    background: set[asyncio.Task[None]] = request.app.state.background
    refused = await admit(request, runtime, ctx, check_chat_body)
    if refused is not None:
        return refused

    headers = response_headers(ctx)
    if ctx.request.stream:
        stream = ctx.stream
        if stream is None:  # a cache hit, answered as the stream it would have been
            assert ctx.result is not None
            stream = replayed(replay_chunks(ctx.result.body))
        return StreamingResponse(relay(ctx, stream, runtime.pipeline, background),
                                 media_type="text/event-stream",
                                 headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    assert ctx.result is not None
    if ctx.cache_status is CacheStatus.HIT:
        payload = ctx.result.to_bytes()
    else:
        ctx.usage = ctx.result.usage
        runtime.pipeline.guardrails.redact_result(ctx)   # before it is stored: the cache keeps what was sent
        payload = ctx.completion = ctx.result.to_bytes()  # serialised once, for the client and the cache
    ctx.finished_at = time.perf_counter()
    headers["x-gateway-overhead-ms"] = _overhead_ms(ctx)
    await finish_detached(ctx, runtime.pipeline, background)
    return Response(payload, media_type=JSON_TYPE, headers=headers)


@router.get("/v1/models")
async def list_models(request: Request, runtime: RuntimeDep) -> Response:
    principal = await runtime.directory.authenticate(bearer_token(request))
    tenant = principal.tenant
    catalog = runtime.catalog
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "gateway"}
            for name in [*catalog.models, *catalog.aliases] if tenant.allows(name)]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type=JSON_TYPE)


@router.post("/v1/embeddings")
async def embeddings(request: Request, runtime: RuntimeDep) -> Response:
    """The same stages as chat (no cache): key, quota, allowlist, PII in the inputs, the
    model's deployments with failover, and a usage record."""
    tracing.begin_request(request.headers, Operation.EMBEDDINGS.value, "/v1/embeddings")
    ctx = new_context(request, Operation.EMBEDDINGS)
    refused = await admit(request, runtime, ctx, check_embeddings_body)
    if refused is not None:
        return refused
    assert ctx.embeddings is not None
    body = ctx.embeddings.body
    body["model"] = ctx.request.model
    payload = orjson.dumps(body)
    ctx.finished_at = time.perf_counter()
    headers = {**response_headers(ctx), "x-gateway-overhead-ms": _overhead_ms(ctx)}
    await finish_detached(ctx, runtime.pipeline, request.app.state.background)
    return Response(payload, media_type=JSON_TYPE, headers=headers)
