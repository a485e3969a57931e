"""The stream relay (gateway/api/streaming.py) over a scripted stream: rendered events in
order, usage from the stream (or estimated when it is cut), the usage chunk only for a
client that asked, a mid-stream failure as the shape's error event, answer redaction, the
completion assembled for the cache, and the finishers run once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.api.openai import ChatCompletions
from gateway.api.streaming import relay
from gateway.catalog import PiiPolicy
from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.pipeline.guardrails import ScanForPii
from gateway.request import Outcome, RequestContext, Route
from gateway.tenancy.models import ApiKey, Principal, Tenant
from providers.base import ChatChunk, ChatRequest, ErrorKind, ProviderError
from providers.sse import DONE_EVENT


class Finishing:
    """The part of Pipeline the relay uses: the answer guardrails, response validation (none
    here: tests/e2e/test_response_validation.py streams through it) and the finishers."""

    def __init__(self, responses: str = "off") -> None:
        self.guardrails = ScanForPii(PiiPolicy(responses=responses))  # type: ignore[arg-type]
        self.validation = None
        self.finished: list[RequestContext] = []

    async def finish(self, ctx: RequestContext) -> None:
        self.finished.append(ctx)


def delta(text: str, finish: str | None = None) -> ChatChunk:
    return ChatChunk({"id": "c", "object": "chat.completion.chunk", "model": "m",
                      "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]})


USAGE = ChatChunk({"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [],
                   "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}})


async def scripted(*items: ChatChunk | ProviderError) -> AsyncIterator[ChatChunk]:
    for item in items:
        if isinstance(item, ProviderError):
            raise item
        yield item


def context(**body: Any) -> RequestContext:
    ctx = RequestContext(request_id="r", api_key=None, request=ChatRequest(
        {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi there"}], **body}))
    ctx.route = Route("m", "p", "up")
    ctx.principal = Principal(Tenant(id="t", name="t", tier="pro", models=("*",), pii_mode="redact"),
                              ApiKey(id="k", tenant_id="t", prefix="sk-t", label=None, expires_at=None,
                                     revoked_at=None))
    return ctx


async def run(ctx: RequestContext, stream: AsyncIterator[ChatChunk], pipeline: Finishing) -> list[bytes]:
    background: set[asyncio.Task[None]] = set()
    events = [e async for e in relay(ctx, stream, pipeline, background,  # type: ignore[arg-type]
                                     ChatCompletions().stream(ctx))]
    return events


def payloads(events: list[bytes]) -> list[Any]:
    return [orjson.loads(e.removeprefix(b"data: ").strip()) for e in events if e != DONE_EVENT]


async def test_events_go_out_in_order_and_the_usage_chunk_only_when_asked() -> None:
    pipeline = Finishing()
    ctx = context()
    events = await run(ctx, scripted(delta("a"), delta("b", "stop"), USAGE), pipeline)
    assert events[-1] == DONE_EVENT and len(events) == 3           # the usage chunk is the gateway's own
    assert ctx.usage is not None and ctx.usage.total_tokens == 7
    assert pipeline.finished == [ctx] and ctx.outcome is Outcome.OK and ctx.first_token_at is not None
    asked = context(stream_options={"include_usage": True})
    events = await run(asked, scripted(delta("a", "stop"), USAGE), Finishing())
    assert payloads(events)[-1]["usage"]["total_tokens"] == 7


async def test_a_failure_mid_stream_ends_it_with_an_error_event_and_charges_what_was_produced() -> None:
    pipeline = Finishing()
    ctx = context()
    cut = ProviderError(ErrorKind.STREAM, "upstream stream broken", status=502, provider="p")
    events = await run(ctx, scripted(delta("abcdefgh"), cut), pipeline)
    assert DONE_EVENT not in events and "error" in payloads(events)[-1]
    assert isinstance(ctx.error, UpstreamError) and ctx.http_status == 502 and ctx.outcome is Outcome.ERROR
    assert ctx.usage is not None and ctx.usage.completion_tokens >= 1 and ctx.usage.prompt_tokens >= 1
    assert pipeline.finished == [ctx]


async def test_a_stream_gone_idle_is_a_timeout() -> None:
    ctx = context()
    idle = ProviderError(ErrorKind.STREAM, "upstream stream idle", status=504, provider="p")
    await run(ctx, scripted(delta("a"), idle), Finishing())
    assert isinstance(ctx.error, UpstreamTimeout) and ctx.http_status == 504


async def test_answers_are_redacted_and_the_completion_kept_for_the_cache() -> None:
    ctx = context()
    ctx.cache_key = "k"
    events = await run(ctx, scripted(delta("mail me at jo"), delta("e@example.com now"), delta("", "stop"), USAGE),
                       Finishing(responses="redact"))
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in payloads(events) if c["choices"])
    assert "example.com" not in text and "[REDACTED-EMAIL]" in text
    assert ctx.completion is not None
    stored = orjson.loads(ctx.completion)
    assert stored["choices"][0]["message"]["content"] == text and ctx.redactions["email"] == 1
