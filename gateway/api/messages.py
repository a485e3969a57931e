"""`POST /v1/messages` (Anthropic's Messages API) and `POST /v1/messages/count_tokens`.
Messages go through the same request path as chat completions (gateway/api/exchange.py):
the request is translated to a chat body (gateway/translate/messages.py), run, and the
answer rendered back as Anthropic's Message or its stream events. Keys come as `x-api-key`
(the Anthropic SDK's way) or a bearer token; `anthropic-version` is accepted whatever its
value. Errors have Anthropic's shape and statuses (529 where the gateway says 503)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api import exchange
from gateway.api.body import check_chat_body, read_json
from gateway.api.deps import RuntimeDep, bearer_token
from gateway.api.errors import JSON_TYPE, error_response, request_id_of
from gateway.api.shape import ApiShape, StreamRenderer
from gateway.errors import GatewayError, NotFound, PermissionDenied
from gateway.request import ClientApi, Operation, RequestContext
from gateway.translate import messages as translate
from providers.base import ChatRequest
from providers.tokens import estimate_prompt_tokens, estimate_text_tokens

router = APIRouter()
ROUTE = "/v1/messages"


def api_key(request: Request) -> str | None:
    return request.headers.get("x-api-key") or bearer_token(request)


def parse(body: dict[str, Any]) -> ChatRequest:
    chat = translate.to_chat(body)
    check_chat_body(chat)
    return ChatRequest(chat)


class Messages:
    media_type = JSON_TYPE

    def result(self, ctx: RequestContext) -> bytes:
        result = ctx.result
        assert result is not None
        return orjson.dumps(translate.render(result.body, ctx.usage or result.usage, ctx.request.model))

    def stream(self, ctx: RequestContext) -> StreamRenderer:
        return translate.MessagesStream(ctx.request.model, estimate_prompt_tokens(ctx.request.messages))

    def error(self, error: GatewayError) -> bytes:
        return orjson.dumps(translate.error_body(error))

    def status(self, error: GatewayError) -> int:
        return translate.error_status(error)


MESSAGES = ApiShape(Operation.CHAT, ClientApi.MESSAGES, ROUTE, Messages(), api_key, parse=parse)


@router.post(ROUTE)
async def create_message(request: Request, runtime: RuntimeDep) -> Response:
    return await exchange.serve(request, runtime, MESSAGES)


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
        return error_response(error, headers, MESSAGES.renderer.error(error), MESSAGES.renderer.status(error))
    tokens = estimate_prompt_tokens(chat["messages"])
    if chat.get("tools"):
        tokens += estimate_text_tokens(orjson.dumps(chat["tools"]).decode())
    return Response(orjson.dumps({"input_tokens": tokens}), media_type=JSON_TYPE, headers=headers)


__all__ = ["MESSAGES", "count_tokens", "create_message", "router"]
