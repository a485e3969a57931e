"""`POST /v1/completions`, the legacy completions API (prompt in, text out), for clients that
still call it; through the same eight stages as chat completions (gateway/translate/completions.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.body import check_chat_body
from gateway.api.deps import RuntimeDep
from gateway.api.openai import (
    JSON_TYPE,
    admit,
    event_stream,
    finish_answer,
    new_context,
    response_headers,
    settle_answer,
)
from gateway.pipeline.context import ClientApi
from gateway.telemetry import tracing
from gateway.translate import completions as translate

router = APIRouter()
ROUTE = "/v1/completions"


async def _to_chat(body: dict[str, Any]) -> dict[str, Any]:
    return translate.to_chat(body)


@router.post(ROUTE)
async def create_completion(request: Request, runtime: RuntimeDep) -> Response:
    tracing.begin_request(request.headers, route=ROUTE)
    ctx = new_context(request, api=ClientApi.COMPLETIONS)
    background: set[asyncio.Task[None]] = request.app.state.background
    refused = await admit(request, runtime, ctx, check_chat_body, _to_chat)
    if refused is not None:
        return refused
    headers = response_headers(ctx)
    if ctx.request.stream:
        renderer = translate.CompletionsStream(ctx.request.model, ctx.request.wants_stream_usage)
        return event_stream(ctx, runtime, background, headers, renderer)
    settle_answer(ctx, runtime)
    assert ctx.result is not None
    body = translate.render(ctx.result.body, ctx.request.model)
    await finish_answer(ctx, runtime, background, headers)
    return Response(orjson.dumps(body), media_type=JSON_TYPE, headers=headers)
