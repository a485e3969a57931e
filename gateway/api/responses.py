"""`POST /v1/responses` (OpenAI's Responses API) and its stored responses
(`GET`/`DELETE /v1/responses/{id}`), through the same eight stages as chat completions: the
request is translated to a chat body (gateway/translate/responses.py), run, and the answer
rendered back as a Response object or the typed Responses stream events.

Pass-through: a concrete model whose every deployment is on a provider with
`responses_api: true` gets the body as it came (PII redacted in its input items), sent to
the upstream's own /responses, and the upstream's answer or events back unchanged -- unless
the tenant's answers are redacted, which only the translated path does. It skips the cache
(its answers are not chat completions); `previous_response_id` must be one of this tenant's
stored responses, and is then continued by the upstream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.body import check_chat_body
from gateway.api.deps import RuntimeDep, bearer_token
from gateway.api.openai import (
    JSON_TYPE,
    admit,
    event_stream,
    finish_answer,
    new_context,
    response_headers,
    settle_answer,
)
from gateway.errors import GatewayError, NotFound
from gateway.pipeline.context import ClientApi, Operation, RequestContext
from gateway.runtime import Runtime
from gateway.stores.responses import StoredResponse
from gateway.telemetry import tracing
from gateway.tenancy.models import Tenant
from gateway.translate import responses as translate
from gateway.translate.base import new_id
from gateway.translate.responses_stream import PassThroughEvents, ResponsesStream
from providers.base import serves_responses

router = APIRouter()
log = logging.getLogger("gateway.api.responses")
ROUTE = "/v1/responses"


@dataclass(slots=True)
class _Parsed:
    request: translate.ResponsesRequest | None = None
    passthrough: bool = False


def _passes_through(runtime: Runtime, model: str) -> bool:
    entry = runtime.catalog.models.get(model)
    return entry is not None and all(serves_responses(runtime.providers[d.provider]) for d in entry.deployments)


def _redacts_answers(runtime: Runtime, tenant: Tenant) -> bool:
    policy = runtime.catalog.guardrails.pii
    return policy.responses == "redact" and (tenant.pii_mode or policy.mode) in ("redact", "block")


@router.post(ROUTE)
async def create_response(request: Request, runtime: RuntimeDep) -> Response:
    tracing.begin_request(request.headers, route=ROUTE)
    ctx = new_context(request, api=ClientApi.RESPONSES)
    parsed = _Parsed()

    async def to_chat(body: dict[str, Any]) -> dict[str, Any]:
        spec = parsed.request = translate.ResponsesRequest.parse(body)
        passthrough = _passes_through(runtime, spec.model)
        if spec.previous_response_id is None and not passthrough:
            return translate.to_chat(body)
        tenant = (await runtime.directory.authenticate(ctx.api_key)).tenant
        parsed.passthrough = passthrough and not _redacts_answers(runtime, tenant)
        history: list[dict[str, Any]] = []
        if spec.previous_response_id is not None:
            stored = await runtime.responses.get(tenant.id, spec.previous_response_id)
            if stored is None:
                raise NotFound(f"Previous response with id '{spec.previous_response_id}' not found.",
                               param="previous_response_id", code="previous_response_not_found")
            history = stored.messages
        if parsed.passthrough:
            ctx.operation = Operation.RESPONSES
            return dict(body)
        return translate.to_chat(body, history)

    def check_body(body: dict[str, Any]) -> None:
        if not parsed.passthrough:
            check_chat_body(body)

    background: set[asyncio.Task[None]] = request.app.state.background
    refused = await admit(request, runtime, ctx, check_body, to_chat)
    if refused is not None:
        return refused
    assert parsed.request is not None
    spec, response_id = parsed.request, new_id("resp_")
    headers = response_headers(ctx)
    if parsed.passthrough:
        return await _passed_through(ctx, runtime, background, headers, spec.store)
    if ctx.request.stream:
        renderer = ResponsesStream(spec, response_id)
        return event_stream(ctx, runtime, background, headers, renderer,
                            _storing(runtime, ctx, renderer) if spec.store else None)
    settle_answer(ctx, runtime)
    assert ctx.result is not None
    body = translate.render(ctx.result.body, ctx.usage or ctx.result.usage, spec, response_id)
    if spec.store:
        await _store(runtime, ctx, body)
    await finish_answer(ctx, runtime, background, headers)
    return Response(orjson.dumps(body), media_type=JSON_TYPE, headers=headers)


async def _passed_through(ctx: RequestContext, runtime: Runtime, background: set[asyncio.Task[None]],
                          headers: dict[str, str], store: bool) -> Response:
    if ctx.request.stream:
        renderer = PassThroughEvents()
        return event_stream(ctx, runtime, background, headers, renderer,
                            _storing(runtime, ctx, renderer) if store else None)
    payload = settle_answer(ctx, runtime)
    assert ctx.result is not None
    if store:
        await _store(runtime, ctx, ctx.result.body)
    await finish_answer(ctx, runtime, background, headers)
    return Response(payload, media_type=JSON_TYPE, headers=headers)


def _storing(runtime: Runtime, ctx: RequestContext, renderer: ResponsesStream | PassThroughEvents,
             ) -> Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]]:
    """Relays the events, storing the final Response before the event that carries it goes
    out: a client that continues from it at once must find it."""

    async def relay(events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        stored = False
        try:
            async for event in events:
                if not stored and renderer.response is not None:
                    stored = True
                    if renderer.response.get("status") != "failed":
                        await _store(runtime, ctx, renderer.response)
                yield event
        finally:
            await events.aclose()   # type: ignore[attr-defined]

    return relay


def _conversation(ctx: RequestContext, response: dict[str, Any]) -> list[dict[str, Any]]:
    if ctx.operation is not Operation.RESPONSES:
        return translate.conversation(ctx.request.messages, response)
    try:   # a passed-through body, as chat messages where it has that shape
        return translate.conversation(translate.input_messages(ctx.request.body.get("input")), response)
    except GatewayError:
        return []


async def _store(runtime: Runtime, ctx: RequestContext, response: dict[str, Any]) -> None:
    assert ctx.principal is not None
    stored = StoredResponse(response=response, messages=_conversation(ctx, response))
    try:
        await runtime.responses.put(ctx.principal.tenant.id, response["id"], stored)
    except Exception:   # the answer is delivered either way; only its continuation is lost
        log.warning("response not stored", extra={"request_id": ctx.request_id}, exc_info=True)


@router.get(ROUTE + "/{response_id}")
async def get_response(response_id: str, request: Request, runtime: RuntimeDep) -> Response:
    tenant = (await runtime.directory.authenticate(bearer_token(request))).tenant.id
    stored = await runtime.responses.get(tenant, response_id)
    if stored is None:
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id", code="not_found")
    return Response(orjson.dumps(stored.response), media_type=JSON_TYPE)


@router.delete(ROUTE + "/{response_id}")
async def delete_response(response_id: str, request: Request, runtime: RuntimeDep) -> Response:
    tenant = (await runtime.directory.authenticate(bearer_token(request))).tenant.id
    if not await runtime.responses.delete(tenant, response_id):
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id", code="not_found")
    return Response(orjson.dumps({"id": response_id, "object": "response", "deleted": True}), media_type=JSON_TYPE)
