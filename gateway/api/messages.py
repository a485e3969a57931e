"""`POST /v1/messages` (Anthropic's Messages API) and `POST /v1/messages/count_tokens`,
through the same eight stages as chat completions: the request is translated to a chat body
(gateway/translate/messages.py), run, and the answer rendered back as Anthropic's Message or
its stream events. Keys come as `x-api-key` (the Anthropic SDK's way) or a bearer token;
`anthropic-version` is accepted whatever its value. Errors have Anthropic's shape."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.body import check_chat_body, read_json
from gateway.api.deps import RuntimeDep, bearer_token
from gateway.api.openai import (
    JSON_TYPE,
    admit,
    event_stream,
    finish_answer,
    new_context,
    request_id_of,
    response_headers,
    settle_answer,
)
from gateway.errors import GatewayError, NotFound, PermissionDenied
from gateway.pipeline.context import ClientApi
from gateway.telemetry import tracing
from gateway.translate import messages as translate
from providers.tokens import estimate_prompt_tokens, estimate_text_tokens

router = APIRouter()
ROUTE = "/v1/messages"


def api_key(request: Request) -> str | None:
    return request.headers.get("x-api-key") or bearer_token(request)


def anthropic_error(error: GatewayError, headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(translate.error_body(error)), status_code=translate.error_status(error),
                    media_type=JSON_TYPE, headers={**headers, **error.headers})


async def _to_chat(body: dict[str, Any]) -> dict[str, Any]:
    return translate.to_chat(body)


@router.post(ROUTE)
async def create_message(request: Request, runtime: RuntimeDep) -> Response:
    tracing.begin_request(request.headers, route=ROUTE)
    ctx = new_context(request, api=ClientApi.MESSAGES, api_key=api_key(request))
    background: set[asyncio.Task[None]] = request.app.state.background
    refused = await admit(request, runtime, ctx, check_chat_body, _to_chat, anthropic_error)
    if refused is not None:
        return refused
    headers = response_headers(ctx)
    if ctx.request.stream:
        renderer = translate.MessagesStream(ctx.request.model, estimate_prompt_tokens(ctx.request.messages))
        return event_stream(ctx, runtime, background, headers, renderer)
    settle_answer(ctx, runtime)
    assert ctx.result is not None
    body = translate.render(ctx.result.body, ctx.usage or ctx.result.usage, ctx.request.model)
    await finish_answer(ctx, runtime, background, headers)
    return Response(orjson.dumps(body), media_type=JSON_TYPE, headers=headers)


@router.post(ROUTE + "/count_tokens")
async def count_tokens(request: Request, runtime: RuntimeDep) -> Response:
    """An estimate (about four characters a token, as the quota stage reserves), from the
    same translation the model would get; the key must exist and may use the model."""
    headers = {"x-request-id": request_id_of(request)}
    try:
        principal = await runtime.directory.authenticate(api_key(request))
        body = await read_json(request, runtime.settings.max_body_bytes)
        chat = translate.to_chat({"max_tokens": 1, **body})
        model = chat["model"]
        if model not in runtime.catalog.models and model not in runtime.catalog.aliases:
            raise NotFound(f"The model `{model}` does not exist.", param="model")
        if not principal.tenant.allows(model):
            raise PermissionDenied(f"This key may not use the model `{model}`.", param="model")
    except GatewayError as error:
        return anthropic_error(error, headers)
    tokens = estimate_prompt_tokens(chat["messages"])
    if chat.get("tools"):
        tokens += estimate_text_tokens(orjson.dumps(chat["tools"]).decode())
    return Response(orjson.dumps({"input_tokens": tokens}), media_type=JSON_TYPE, headers=headers)
