"""The request path, the same for every API shape: parse, stages 1-6, answer, finishers.

    serve(request, runtime, shape)
      run       reads the body, `shape.parse`s (or awaits `shape.prepare` on) it into a
                ChatRequest (a chat body naming a stored prompt in `x-gateway-prompt`: see
                gateway/api/prompt_ref.py), runs stages 1-6
                (cancelled if the client leaves); a refusal is answered here, in the
                shape's error body
      answer    a whole answer: usage, `message.refusal: null` where a chat answer lacks
                it, answer redaction, the completion kept for the cache (`complete`),
                rendered by the shape (and kept, when the shape asks), with timings and headers
      stream    a stream (or a cache hit replayed as one) relayed through the shape's
                StreamRenderer (gateway/api/streaming.py): redaction, usage, the
                provider-error -> client-error mapping (gateway/errors.py), timings; a
                shape's `keep` is awaited before the event that carries the final answer
    and in every case the finishers (stages 7-8) run once, detached from the client.

This module and streaming.py are the only writers of the response half of the context
(usage, completion, timings, outcome on the way out). A new API shape plugs in with a
parser and a renderer (gateway/api/shape.py) and a route that calls `serve`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Coroutine
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from gateway.api import prompt_ref
from gateway.api.body import read_json
from gateway.api.errors import client_request_id, error_response, new_request_id
from gateway.api.shape import ApiShape, Keep
from gateway.api.streaming import finish_detached, relay, replayed
from gateway.cache.replay import replay_chunks
from gateway.errors import BlockedByGuardrail, GatewayError, Internal
from gateway.limits.headers import ratelimit_headers
from gateway.pipeline import Pipeline
from gateway.request import CacheStatus, Operation, Outcome, RequestContext
from gateway.runtime import Runtime
from gateway.telemetry import tracing
from providers.base import ChatRequest, ChatResult

_EMPTY = ChatRequest({})
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def serve(request: Request, runtime: Runtime, shape: ApiShape) -> Response:
    tracing.begin_request(request.headers, shape.operation.value, shape.route)  # ended by stage 8
    ctx = new_context(request, shape)
    refused = await run(request, runtime, ctx, shape)
    if refused is not None:
        return refused
    background: set[asyncio.Task[None]] = request.app.state.background
    if ctx.request.stream and ctx.operation is not Operation.EMBEDDINGS:
        return stream(ctx, runtime.pipeline, shape, background)
    return await answer(ctx, runtime.pipeline, shape, background)


def new_context(request: Request, shape: ApiShape) -> RequestContext:
    read_cache, write_cache = _cache_flags(request)
    return RequestContext(request_id=new_request_id(), client_request_id=client_request_id(request.headers),
                          request=_EMPTY, api_key=shape.api_key(request), operation=shape.operation,
                          api=shape.api, cache_read=read_cache, cache_write=write_cache)


async def run(request: Request, runtime: Runtime, ctx: RequestContext, shape: ApiShape) -> Response | None:
    """Reads and parses the body and runs stages 1-6. Returns the response that ends the
    request when it was refused or the client left (the finishers have run), else None."""
    background: set[asyncio.Task[None]] = request.app.state.background
    try:
        body = await read_json(request, runtime.settings.max_body_bytes)
        ctx.feature = _feature(request, body)
        ctx.prompt_ref = prompt_ref.from_headers(request.headers, body, shape.api)
        if ctx.prompt_ref is not None:
            ctx.request = prompt_ref.prompted_chat(body)
        elif shape.parse is not None:
            ctx.request = shape.parse(body)
        else:
            assert shape.prepare is not None
            ctx.request = await shape.prepare(body, ctx)
        await run_unless_client_leaves(request, runtime.pipeline.run(ctx))
    except GatewayError as error:
        # Refused before any model was called -- or after, by a guardrail hook on the answer.
        refused = not ctx.attempts or isinstance(error, BlockedByGuardrail)
        ctx.fail(error, Outcome.REJECTED if refused else Outcome.ERROR)
        renderer = shape.renderer
        ctx.finished_at = time.perf_counter()
        await finish_detached(ctx, runtime.pipeline, background)
        return error_response(error, response_headers(ctx), renderer.error(error), renderer.status(error))
    except BaseException as exc:
        if isinstance(exc, ClientLeft | ClientDisconnect | asyncio.CancelledError):
            ctx.outcome = Outcome.CLIENT_CLOSED
            ctx.http_status = 499
        else:   # a bug: recorded as the 500 the client gets, never as the client's leaving
            ctx.fail(Internal("The gateway failed to handle this request."))
        ctx.finished_at = time.perf_counter()
        await finish_detached(ctx, runtime.pipeline, background, getattr(ctx.stream, "aclose", None))
        if isinstance(exc, ClientLeft | ClientDisconnect):
            return Response(status_code=499)    # nobody is there to read it (not an error to log)
        raise
    return None


def complete(ctx: RequestContext, pipeline: Pipeline) -> None:
    """A whole answer made final: its usage noted (for a cache hit: the tokens it saved);
    a routed chat answer redacted (before it is stored: the cache keeps what was sent) and
    serialised once, for the client and the cache."""
    if ctx.operation is Operation.EMBEDDINGS:
        assert ctx.embeddings is not None
        ctx.usage = ctx.embeddings.usage
        return
    result = ctx.result
    assert result is not None
    ctx.usage = result.usage
    if ctx.cache_status is CacheStatus.HIT:
        return
    if ctx.operation is Operation.CHAT:
        with_refusal(result)
    pipeline.guardrails.redact_result(ctx)
    ctx.completion = result.raw = result.to_bytes()


def with_refusal(result: ChatResult) -> None:
    """`message.refusal: null` where an upstream left it out: the chat completion schema
    requires the field. Upstream bytes that carry it are forwarded untouched."""
    if result.raw is not None and b'"refusal"' in result.raw:
        return
    changed = False
    for choice in result.body.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and "refusal" not in message:
            message["refusal"] = None
            changed = True
    if changed:
        result.replace_body(result.body)


async def answer(ctx: RequestContext, pipeline: Pipeline, shape: ApiShape,
                 background: set[asyncio.Task[None]]) -> Response:
    complete(ctx, pipeline)
    renderer = shape.renderer
    payload = renderer.result(ctx)
    if shape.keep is not None:
        pending = shape.keep(ctx)
        if pending is not None:
            await pending
    ctx.finished_at = time.perf_counter()
    headers = response_headers(ctx)
    headers["x-gateway-overhead-ms"] = _overhead_ms(ctx)
    await finish_detached(ctx, pipeline, background)
    return Response(payload, media_type=renderer.media_type, headers=headers)


def stream(ctx: RequestContext, pipeline: Pipeline, shape: ApiShape,
           background: set[asyncio.Task[None]]) -> StreamingResponse:
    chunks = ctx.stream
    if chunks is None:  # a cache hit, answered as the stream it would have been
        assert ctx.result is not None
        chunks = replayed(replay_chunks(ctx.result.body))
    relayed = relay(ctx, chunks, pipeline, background, shape.renderer.stream(ctx))
    events = relayed if shape.keep is None else kept(ctx, relayed, shape.keep)
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={**response_headers(ctx), **_STREAM_HEADERS})


async def kept(ctx: RequestContext, events: AsyncGenerator[bytes, None], keep: Keep) -> AsyncGenerator[bytes, None]:
    """The events, each sent once what `keep` asks to keep before it is."""
    try:
        async for event in events:
            pending = keep(ctx)
            if pending is not None:
                await pending
            yield event
    finally:
        await events.aclose()   # the relay's own end (its finishers) runs whatever ended this one


def response_headers(ctx: RequestContext) -> dict[str, str]:
    headers = {"x-request-id": ctx.client_request_id or ctx.request_id, "x-gateway-request-id": ctx.request_id,
               "x-gateway-cache": ctx.cache_status.value}
    if ctx.reservation is not None:   # x-ratelimit-* of an admitted request (a 429 carries its own)
        headers.update(ratelimit_headers(ctx.reservation.requests, ctx.reservation.tokens))
    if ctx.route is not None:
        headers["x-gateway-provider"] = ctx.route.provider
    elif ctx.cache_status is CacheStatus.HIT:
        headers["x-gateway-provider"] = "cache"
    if ctx.prompt_id is not None:    # which stored prompt version was rendered (a label may have moved)
        headers["x-gateway-prompt-version"] = f"{ctx.prompt_id}@{ctx.prompt_version}"
    if ctx.validation is not None:   # a whole answer's JSON Schema verdict (a stream's is in its last event)
        headers["x-gateway-validation"] = ctx.validation
    if ctx.cache_match is not None:
        headers["x-gateway-cache-match"] = ctx.cache_match
        headers["x-gateway-cache-similarity"] = f"{ctx.cache_similarity or 0:.4f}"
    return headers


def _overhead_ms(ctx: RequestContext) -> str:
    assert ctx.finished_at is not None
    return f"{max(0.0, ctx.finished_at - ctx.started - ctx.upstream_seconds) * 1000:.2f}"


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


__all__ = ["ClientLeft", "answer", "complete", "kept", "new_context", "response_headers", "run", "serve",
           "stream", "with_refusal"]
