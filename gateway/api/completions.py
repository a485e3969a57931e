"""`POST /v1/completions`, the legacy completions API (prompt in, text out), for clients that
still call it; through the same request path as chat completions (gateway/api/exchange.py),
translated by gateway/translate/completions.py. Errors have OpenAI's shape."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api import exchange
from gateway.api.body import check_chat_body
from gateway.api.deps import RuntimeDep, bearer_token
from gateway.api.errors import JSON_TYPE
from gateway.api.shape import ApiShape, StreamRenderer
from gateway.errors import GatewayError
from gateway.request import ClientApi, Operation, RequestContext
from gateway.translate import completions as translate
from providers.base import ChatRequest

router = APIRouter()
ROUTE = "/v1/completions"


def parse(body: dict[str, Any]) -> ChatRequest:
    chat = translate.to_chat(body)
    check_chat_body(chat)
    return ChatRequest(chat)


class Completions:
    media_type = JSON_TYPE

    def result(self, ctx: RequestContext) -> bytes:
        assert ctx.result is not None
        return orjson.dumps(translate.render(ctx.result.body, ctx.request.model))

    def stream(self, ctx: RequestContext) -> StreamRenderer:
        return translate.CompletionsStream(ctx.request.model, ctx.request.wants_stream_usage)

    def error(self, error: GatewayError) -> bytes:
        return error.to_bytes()

    def status(self, error: GatewayError) -> int:
        return error.status


COMPLETIONS = ApiShape(Operation.CHAT, ClientApi.COMPLETIONS, ROUTE, Completions(), bearer_token, parse=parse)


@router.post(ROUTE)
async def create_completion(request: Request, runtime: RuntimeDep) -> Response:
    return await exchange.serve(request, runtime, COMPLETIONS)


__all__ = ["COMPLETIONS", "create_completion", "router"]
