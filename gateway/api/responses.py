"""`POST /v1/responses` (OpenAI's Responses API) and its stored responses
(`GET`/`DELETE /v1/responses/{id}`), through the same eight stages as chat completions: the
request is translated to a chat body (gateway/translate/responses.py), run, and the answer
rendered back as a Response object or the typed Responses stream events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
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
from gateway.errors import NotFound
from gateway.pipeline.context import ClientApi, RequestContext
from gateway.runtime import Runtime
from gateway.stores.responses import StoredResponse
from gateway.telemetry import tracing
from gateway.translate import responses as translate
from gateway.translate.base import new_id

router = APIRouter()
log = logging.getLogger("gateway.api.responses")
ROUTE = "/v1/responses"


@dataclass(slots=True)
class _Parsed:
    request: translate.ResponsesRequest | None = None


@router.post(ROUTE)
async def create_response(request: Request, runtime: RuntimeDep) -> Response:
    tracing.begin_request(request.headers, route=ROUTE)
    ctx = new_context(request, api=ClientApi.RESPONSES)
    parsed = _Parsed()

    async def to_chat(body: dict[str, Any]) -> dict[str, Any]:
        parsed.request = translate.ResponsesRequest.parse(body)
        history: list[dict[str, Any]] = []
        if parsed.request.previous_response_id is not None:
            tenant = (await runtime.directory.authenticate(ctx.api_key)).tenant.id
            stored = await runtime.responses.get(tenant, parsed.request.previous_response_id)
            if stored is None:
                raise NotFound(f"Previous response with id '{parsed.request.previous_response_id}' not found.",
                               param="previous_response_id", code="previous_response_not_found")
            history = stored.messages
        return translate.to_chat(body, history)

    background: set[asyncio.Task[None]] = request.app.state.background
    refused = await admit(request, runtime, ctx, check_chat_body, to_chat)
    if refused is not None:
        return refused
    assert parsed.request is not None
    spec, response_id = parsed.request, new_id("resp_")
    headers = response_headers(ctx)
    if ctx.request.stream:
        renderer = translate.ResponsesStream(spec, response_id)

        async def store_before_the_end(events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
            # Stored before response.completed goes out: a client that continues from it at
            # once must find it.
            stored = False
            try:
                async for event in events:
                    if not stored and renderer.response is not None:
                        stored = True
                        if renderer.response["status"] != "failed":
                            await _store(runtime, ctx, renderer.response)
                    yield event
            finally:
                await events.aclose()   # type: ignore[attr-defined]

        return event_stream(ctx, runtime, background, headers, renderer,
                            store_before_the_end if spec.store else None)
    settle_answer(ctx, runtime)
    assert ctx.result is not None
    body = translate.render(ctx.result.body, ctx.usage or ctx.result.usage, spec, response_id)
    if spec.store:
        await _store(runtime, ctx, body)
    await finish_answer(ctx, runtime, background, headers)
    return Response(orjson.dumps(body), media_type=JSON_TYPE, headers=headers)


async def _store(runtime: Runtime, ctx: RequestContext, response: dict[str, Any]) -> None:
    assert ctx.principal is not None
    stored = StoredResponse(response=response, messages=translate.conversation(ctx.request.messages, response))
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
