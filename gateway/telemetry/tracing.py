"""OpenTelemetry traces: one SERVER span per chat request and one CLIENT span per upstream
attempt, named `chat {model}` and attributed per the GenAI semantic conventions, plus the
gateway's own `gateway.*` attributes (tenant, cache result, fallbacks, redactions).

Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is
set -- spans go out over OTLP/HTTP in batches -- or when a test installs a provider with
`use_provider`. When it is off no span object is created: each hook is a check of a module
global, and a client's W3C `traceparent` is still passed upstream unchanged.

The request's trace state travels in a context variable set by the route: the router's
attempts (same task), the stream relay and the finishers (tasks that copy the context) all
see it. The router reports an attempt's answer through `UpstreamAttempt`; the request's end
is read from the finished RequestContext (gateway.request, a leaf). Spans carry no prompt
or completion text unless `settings.trace_content` is on.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.telemetry import genai
from providers.base import ChatChunk, ChatRequest, ChatResult, Provider, ProviderError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from gateway.request import RequestContext

CHAT_ROUTE = "/v1/chat/completions"

_tracer: Tracer | None = None
_owned_provider: TracerProvider | None = None   # built here from the environment; shut down here
_capture_content = False
_w3c = TraceContextTextMapPropagator()
_noop: AbstractContextManager[None] = nullcontext()


@dataclass(slots=True)
class RequestTrace:
    span: Span | None                 # the server span; None when tracing is off
    parent: Context                   # what upstream attempts descend from
    upstream: Span | None = None      # a streaming attempt's span, ended when the stream ends
    calls: int = 0                    # upstream calls so far (retries included)
    facts: genai.ResponseFacts = field(default_factory=genai.ResponseFacts)


class TraceIds(NamedTuple):
    trace_id: str
    span_id: str


_request: ContextVar[RequestTrace | None] = ContextVar("gateway_request_trace", default=None)


# -- set-up ---------------------------------------------------------------------------

def otlp_configured() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def setup(trace_content: bool) -> bool:
    """Turns OTLP export on if the environment asks for it; True when tracing is on."""
    global _capture_content, _owned_provider
    _capture_content = trace_content
    if _tracer is not None or not otlp_configured():
        return _tracer is not None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    named = "OTEL_SERVICE_NAME" in os.environ or "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    provider = TracerProvider(resource=Resource.create({} if named else {"service.name": "llm-gateway"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _owned_provider = provider
    use_provider(provider)
    return True


def use_provider(provider: TracerProvider | None) -> None:
    """Sends spans to `provider` (None: tracing off). For tests and embedders."""
    global _tracer
    _tracer = provider.get_tracer("llm-gateway") if provider is not None else None


def shutdown() -> None:
    """Flushes and stops what `setup` started (a provider installed by a test is left alone)."""
    global _owned_provider
    if _owned_provider is not None:
        provider, _owned_provider = _owned_provider, None
        use_provider(None)
        provider.shutdown()


def enabled() -> bool:
    return _tracer is not None


# -- the server span ------------------------------------------------------------------

def begin_request(headers: Mapping[str, str], operation: str = genai.OPERATION, route: str = CHAT_ROUTE) -> None:
    """Opens the request's server span, child of the client's `traceparent` if it sent one."""
    tracer = _tracer
    if tracer is None:
        if "traceparent" in headers:
            _request.set(RequestTrace(None, _w3c.extract(headers)))
        else:
            _request.set(None)
        return
    span = tracer.start_span(operation, context=_w3c.extract(headers), kind=SpanKind.SERVER,
                             attributes={"gen_ai.operation.name": operation,
                                         "http.request.method": "POST", "http.route": route})
    _request.set(RequestTrace(span, trace.set_span_in_context(span)))


def end_request(ctx: RequestContext, *, model: str, genai_system: str | None) -> TraceIds | None:
    """Ends the request's spans with what the request came to; returns the ids to log."""
    state = _request.get()
    if state is None:
        return None
    span = state.span
    if span is None:
        return _ids(trace.get_current_span(state.parent))
    if state.upstream is not None:
        _end_streamed_attempt(state, ctx)
    if not span.is_recording():
        return _ids(span)
    span.update_name(f"{ctx.operation.value} {model}")
    span.set_attributes(_server_attributes(ctx, state, model, genai_system))
    if ctx.http_status >= 500:
        span.set_status(Status(StatusCode.ERROR, _error_type(ctx)))
    span.end()
    return _ids(span)


def _server_attributes(ctx: RequestContext, state: RequestTrace, model: str,
                       genai_system: str | None) -> dict[str, genai.AttributeValue]:
    attributes: dict[str, genai.AttributeValue] = {
        "gen_ai.request.model": model,
        "http.response.status_code": ctx.http_status,
        "gateway.request_id": ctx.request_id,
        "gateway.tenant": ctx.tenant_name,
        "gateway.cache.result": ctx.cache_status.value,
        "gateway.fallback.count": ctx.fallback_count,
        "gateway.redactions": sum(ctx.redactions.values()),
        "gateway.outcome": ctx.outcome.value,
        "gateway.stream": ctx.request.stream,
        **genai.request_attributes(ctx.request),
        **genai.usage_attributes(ctx.usage),
    }
    if ctx.redactions:
        attributes["gateway.redaction.types"] = sorted(ctx.redactions)
    if genai_system is not None:
        attributes["gen_ai.provider.name"] = genai_system
    if ctx.error is not None:
        attributes["error.type"] = _error_type(ctx)
    body = ctx.result.body if ctx.result is not None else None
    facts = genai.ResponseFacts.of(body) if body is not None else state.facts
    attributes.update(facts.attributes())
    if ctx.route is not None:
        attributes["gen_ai.response.model"] = ctx.route.model  # the catalog model the client was answered by
    if _capture_content:
        attributes["gen_ai.input.messages"] = genai.input_messages(ctx.request.messages)
        output = genai.output_messages(body if body is not None else _completion(ctx))
        if output is not None:
            attributes["gen_ai.output.messages"] = output
    return attributes


def _completion(ctx: RequestContext) -> Mapping[str, object] | None:
    import orjson

    return orjson.loads(ctx.completion) if ctx.completion is not None else None


# -- a client span per upstream attempt ------------------------------------------------

class UpstreamAttempt(Protocol):
    """What the router tells the tracing of one attempt, inside `with upstream_attempt(...)`."""

    def __enter__(self) -> UpstreamAttempt: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def answered(self, result: ChatResult) -> None: ...
    def streaming(self, stream: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]: ...


def upstream_attempt(operation: str, request: ChatRequest, provider: Provider,
                     upstream_model: str) -> UpstreamAttempt:
    """Wraps one call to a provider, up to its answer (or a stream's first chunk). Inside it
    the attempt's span is the current OpenTelemetry context, which providers inject into the
    upstream request as `traceparent`. The router reports the answer with `answered`, or hands
    a stream through `streaming` (its span then ends with the request)."""
    state = _request.get()
    if state is None:
        return _NO_ATTEMPT
    if state.span is None or _tracer is None:
        return _Attached(state.parent)   # tracing off: pass the client's traceparent on
    return _AttemptSpan(_tracer, state, operation, request, provider, upstream_model)


class _Untraced:
    """No span: the answer is not looked at."""

    __slots__ = ()

    def __enter__(self) -> UpstreamAttempt:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def answered(self, result: ChatResult) -> None:
        return None

    def streaming(self, stream: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
        return stream


_NO_ATTEMPT = _Untraced()


class _Attached(_Untraced):
    __slots__ = ("_context", "_token")

    def __init__(self, context: Context) -> None:
        self._context = context

    def __enter__(self) -> UpstreamAttempt:
        self._token = otel_context.attach(self._context)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        otel_context.detach(self._token)


class _AttemptSpan:
    __slots__ = ("_model", "_operation", "_provider", "_request", "_span", "_state", "_streaming", "_token",
                 "_tracer")

    def __init__(self, tracer: Tracer, state: RequestTrace, operation: str, request: ChatRequest,
                 provider: Provider, upstream_model: str) -> None:
        self._tracer, self._state, self._operation, self._request = tracer, state, operation, request
        self._provider, self._model = provider, upstream_model
        self._streaming = False

    def __enter__(self) -> UpstreamAttempt:
        attributes: dict[str, genai.AttributeValue] = {
            "gen_ai.operation.name": self._operation,
            "gen_ai.provider.name": self._provider.genai_system,
            "gen_ai.request.model": self._model,
            "gateway.provider": self._provider.name,
            "gateway.attempt": self._state.calls,
            **genai.request_attributes(self._request),
        }
        self._state.calls += 1
        self._span = self._tracer.start_span(f"{self._operation} {self._model}", context=self._state.parent,
                                             kind=SpanKind.CLIENT, attributes=attributes)
        self._token = otel_context.attach(trace.set_span_in_context(self._span, self._state.parent))
        return self

    def answered(self, result: ChatResult) -> None:
        self._span.set_attributes({**genai.ResponseFacts.of(result.body).attributes(),
                                   **genai.usage_attributes(result.usage)})

    def streaming(self, stream: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
        self._streaming = True
        self._state.upstream = self._span      # ended by end_request, when the stream is over
        return _observed(stream, self._state.facts)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        otel_context.detach(self._token)
        span = self._span
        if exc is not None:
            if self._streaming:
                self._state.upstream = None
            # The kind, never the message: an upstream's error text may quote the prompt.
            error_type = exc.kind.value if isinstance(exc, ProviderError) else type(exc).__name__
            span.set_attribute("error.type", error_type)
            if isinstance(exc, ProviderError):
                span.set_attribute("gateway.upstream.status", exc.status)
            span.set_status(Status(StatusCode.ERROR, error_type))
            span.end()
            return
        if not self._streaming:
            span.end()


def _end_streamed_attempt(state: RequestTrace, ctx: RequestContext) -> None:
    span, state.upstream = state.upstream, None
    assert span is not None
    span.set_attributes({**state.facts.attributes(), **genai.usage_attributes(ctx.usage)})
    if ctx.error is not None:
        span.set_attribute("error.type", _error_type(ctx))
        span.set_status(Status(StatusCode.ERROR, _error_type(ctx)))
    elif ctx.http_status == 499:
        span.set_attribute("error.type", "client_closed")
    span.end(end_time=_epoch_ns(ctx.finished_at))


async def _observed(stream: AsyncIterator[ChatChunk], facts: genai.ResponseFacts) -> AsyncIterator[ChatChunk]:
    """The stream as it was, noting the response id, model and finish reasons on the way."""
    try:
        async for chunk in stream:
            facts.add(chunk.data)
            yield chunk
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


# -- helpers --------------------------------------------------------------------------

def _error_type(ctx: RequestContext) -> str:
    """The error's OpenAI code (bounded), else the HTTP status."""
    if ctx.error is not None and ctx.error.code:
        return ctx.error.code
    return type(ctx.error).__name__ if ctx.error is not None else str(ctx.http_status)


def _ids(span: Span) -> TraceIds | None:
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return TraceIds(f"{context.trace_id:032x}", f"{context.span_id:016x}")


def _epoch_ns(perf_counter_value: float | None) -> int | None:
    """A time.perf_counter() reading as the epoch nanoseconds OpenTelemetry wants."""
    if perf_counter_value is None:
        return None
    return time.time_ns() - int((time.perf_counter() - perf_counter_value) * 1e9)
