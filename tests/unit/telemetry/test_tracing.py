"""The tracing hooks on their own: off unless configured, the client's traceparent passed
on when off, attempt spans that record errors by kind, streamed attempts ended with the
stream. Each test runs in a copied context, as each request does."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import pytest
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway.request import RequestContext
from gateway.telemetry import tracing
from providers.base import ChatChunk, ChatRequest, ErrorKind, ProviderError, Usage

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
T = TypeVar("T")


class StubProvider:
    name, type, genai_system = "bedrock-use1", "bedrock", "aws.bedrock"


def isolated(fn: Callable[[], T]) -> T:
    return contextvars.copy_context().run(fn)


def new_ctx(**body: Any) -> RequestContext:
    return RequestContext(request_id="req-1", request=ChatRequest({"model": "m", "messages": [], **body}),
                          api_key=None)


async def empty() -> AsyncIterator[ChatChunk]:
    return
    yield


def injected() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    yield exporter
    tracing.use_provider(None)


def test_off_without_a_traceparent_does_nothing() -> None:
    assert not tracing.enabled()

    def request() -> None:
        tracing.begin_request({})
        ctx = new_ctx()
        with tracing.upstream_attempt("chat", ctx.request, StubProvider(), "up") as entered:  # type: ignore[arg-type]
            assert injected() == {}
            assert entered.streaming(stream := empty()) is stream     # untraced: the stream as it was
        assert tracing.end_request(ctx, model="m", genai_system=None) is None

    isolated(request)


def test_off_the_clients_traceparent_is_passed_on_unchanged() -> None:
    def request() -> None:
        tracing.begin_request({"traceparent": TRACEPARENT})
        ctx = new_ctx()
        with tracing.upstream_attempt("chat", ctx.request, StubProvider(), "up"):  # type: ignore[arg-type]
            assert injected()["traceparent"] == TRACEPARENT
        assert injected() == {}                     # only inside the attempt
        ids = tracing.end_request(ctx, model="m", genai_system=None)
        assert ids is not None and ids.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"

    isolated(request)


def test_a_malformed_traceparent_is_ignored() -> None:
    def request() -> None:
        tracing.begin_request({"traceparent": "00-not-a-trace-01"})
        ctx = new_ctx()
        with tracing.upstream_attempt("chat", ctx.request, StubProvider(), "up"):  # type: ignore[arg-type]
            assert injected() == {}
        assert tracing.end_request(ctx, model="m", genai_system=None) is None

    isolated(request)


def test_setup_turns_on_only_with_an_otlp_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert tracing.setup(trace_content=False) is False and not tracing.enabled()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/v1/traces")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing.setup(trace_content=False) is False
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    try:
        assert tracing.setup(trace_content=False) is True and tracing.enabled()
    finally:
        tracing.shutdown()
    assert not tracing.enabled()


def test_a_failed_attempt_records_its_kind_not_its_message(spans: InMemorySpanExporter) -> None:
    def request() -> None:
        tracing.begin_request({})
        ctx = new_ctx(max_tokens=9)
        with pytest.raises(ProviderError):
            with tracing.upstream_attempt("chat", ctx.request, StubProvider(), "anthropic.claude"):  # type: ignore[arg-type]
                raise ProviderError(ErrorKind.RATE_LIMITED, "upstream said: <the user's prompt>", status=429)
        with pytest.raises(asyncio.CancelledError):
            with tracing.upstream_attempt("chat", ctx.request, StubProvider(), "anthropic.claude"):  # type: ignore[arg-type]
                raise asyncio.CancelledError
        ctx.http_status = 503
        tracing.end_request(ctx, model="m", genai_system=None)

    isolated(request)
    first, second, server = spans.get_finished_spans()
    assert first.kind is SpanKind.CLIENT and first.name == "chat anthropic.claude"
    attributes = dict(first.attributes or {})
    assert attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert attributes["gateway.provider"] == "bedrock-use1"
    assert attributes["gen_ai.request.max_tokens"] == 9
    assert (attributes["error.type"], attributes["gateway.upstream.status"]) == ("rate_limited", 429)
    assert first.status.status_code is StatusCode.ERROR and "prompt" not in repr(first.status)
    assert dict(second.attributes or {})["error.type"] == "CancelledError"
    assert server.kind is SpanKind.SERVER and server.status.status_code is StatusCode.ERROR


def test_a_streamed_attempt_ends_with_the_stream(spans: InMemorySpanExporter) -> None:
    async def chunks() -> AsyncIterator[ChatChunk]:
        yield ChatChunk({"id": "resp-9", "model": "up-2024", "choices": [{"delta": {"content": "a"}}]})
        yield ChatChunk({"id": "resp-9", "choices": [{"delta": {}, "finish_reason": "stop"}]})

    async def request() -> None:
        tracing.begin_request({})
        ctx = new_ctx(stream=True)
        with tracing.upstream_attempt("chat", ctx.request, StubProvider(), "up") as attempt:  # type: ignore[arg-type]
            ctx.stream = attempt.streaming(chunks())
        assert spans.get_finished_spans() == ()     # still streaming
        assert ctx.stream is not None
        received = [chunk async for chunk in ctx.stream]
        assert len(received) == 2
        ctx.usage = Usage(prompt_tokens=4, completion_tokens=1)
        tracing.end_request(ctx, model="m", genai_system="aws.bedrock")

    asyncio.run(request())
    client, server = spans.get_finished_spans()
    for span in (client, server):
        attributes = dict(span.attributes or {})
        assert attributes["gen_ai.response.id"] == "resp-9"
        assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
        assert attributes["gen_ai.usage.output_tokens"] == 1
    assert dict(client.attributes or {})["gen_ai.response.model"] == "up-2024"
    assert dict(server.attributes or {})["gen_ai.provider.name"] == "aws.bedrock"
