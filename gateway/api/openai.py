"""The OpenAI-compatible routes: chat completions, embeddings, models (the list and one).

OpenAI's shapes are the gateway's own (a ChatRequest is an OpenAI chat body, a ChatResult a
chat.completion), so the parser only checks and the renderer only serialises. The routes
parse, run and render through gateway/api/exchange.py, nothing else.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api import exchange
from gateway.api.body import check_chat_body, check_embeddings_body
from gateway.api.deps import RuntimeDep, bearer_token
from gateway.api.errors import JSON_TYPE
from gateway.api.shape import ApiShape, StreamRenderer
from gateway.errors import GatewayError, NotFound
from gateway.request import ClientApi, Operation, RequestContext
from providers.base import ChatChunk, ChatRequest
from providers.sse import DONE_EVENT, encode_event

router = APIRouter()


# -- parsers: OpenAI's JSON is the gateway's own; checked, not translated ----------------

def parse_chat(body: dict[str, Any]) -> ChatRequest:
    check_chat_body(body)
    return ChatRequest(body)


def parse_embeddings(body: dict[str, Any]) -> ChatRequest:
    check_embeddings_body(body)
    return ChatRequest(body)


# -- renderers ---------------------------------------------------------------------------

class _ChunkEvents:
    """chat.completion.chunk events and `data: [DONE]`. The usage-only chunk the gateway asks
    every upstream for (to charge real usage) goes out only to a client that asked for it."""

    __slots__ = ("_usage",)

    def __init__(self, include_usage: bool) -> None:
        self._usage = include_usage

    def chunk(self, chunk: ChatChunk) -> bytes | None:
        if not self._usage and chunk.is_usage_only:
            return None
        return encode_event(chunk.to_bytes())

    def end(self) -> bytes:
        return DONE_EVENT

    def error(self, error: GatewayError) -> bytes:
        return encode_event(error.to_bytes())


_WITH_USAGE, _WITHOUT_USAGE = _ChunkEvents(True), _ChunkEvents(False)


class ChatCompletions:
    media_type = JSON_TYPE

    def result(self, ctx: RequestContext) -> bytes:
        assert ctx.result is not None
        return ctx.result.to_bytes()

    def stream(self, ctx: RequestContext) -> StreamRenderer:
        return _WITH_USAGE if ctx.request.wants_stream_usage else _WITHOUT_USAGE

    def error(self, error: GatewayError) -> bytes:
        return error.to_bytes()

    def status(self, error: GatewayError) -> int:
        return error.status


class Embeddings(ChatCompletions):
    def result(self, ctx: RequestContext) -> bytes:
        assert ctx.embeddings is not None
        body = ctx.embeddings.body
        body["model"] = ctx.request.model      # the name the client asked for
        return orjson.dumps(body)


CHAT = ApiShape(Operation.CHAT, ClientApi.CHAT, "/v1/chat/completions", ChatCompletions(), bearer_token,
               parse=parse_chat)
EMBEDDINGS = ApiShape(Operation.EMBEDDINGS, ClientApi.EMBEDDINGS, "/v1/embeddings", Embeddings(), bearer_token,
                      parse=parse_embeddings)


# -- routes ------------------------------------------------------------------------------

@router.post("/v1/chat/completions")
async def chat_completions(request: Request, runtime: RuntimeDep) -> Response:
    return await exchange.serve(request, runtime, CHAT)


@router.post("/v1/embeddings")
async def embeddings(request: Request, runtime: RuntimeDep) -> Response:
    """The same stages as chat (no cache): key, quota, allowlist, PII in the inputs, the
    model's deployments with failover, and a usage record."""
    return await exchange.serve(request, runtime, EMBEDDINGS)


@router.get("/v1/models")
async def list_models(request: Request, runtime: RuntimeDep) -> Response:
    principal = await runtime.directory.authenticate(bearer_token(request))
    tenant = principal.tenant
    catalog = runtime.catalog
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "gateway"}
            for name in [*catalog.models, *catalog.aliases] if tenant.allows(name)]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type=JSON_TYPE)


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request, runtime: RuntimeDep) -> Response:
    """One model or alias the key may use; any other name is a 404, as OpenAI answers."""
    tenant = (await runtime.directory.authenticate(bearer_token(request))).tenant
    catalog = runtime.catalog
    if (model_id not in catalog.models and model_id not in catalog.aliases) or not tenant.allows(model_id):
        raise NotFound(f"The model `{model_id}` does not exist or you do not have access to it.", param="model")
    return Response(orjson.dumps({"id": model_id, "object": "model", "created": 0, "owned_by": "gateway"}),
                    media_type=JSON_TYPE)


__all__ = ["CHAT", "EMBEDDINGS", "chat_completions", "embeddings", "list_models", "retrieve_model", "router"]
