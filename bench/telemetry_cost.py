"""What tracing costs per request, off and on, measured on the hooks a chat request runs:
the server span opened by the route, a client span around one upstream attempt (with the
traceparent injected into the upstream headers), and the spans ended by the telemetry stage.

    python -m bench.telemetry_cost            # ~20 s
    python -m bench.telemetry_cost --n 20000

"on" records spans into the SDK's BatchSpanProcessor with an exporter that drops them, so
the figure is the gateway's own cost without a network. The metrics and log line of the
telemetry stage (always on) are printed alongside for scale.
"""

from __future__ import annotations

import argparse
import contextvars
import io
import logging
import time
from collections.abc import Callable, Sequence

from opentelemetry import propagate
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from gateway.catalog import load_catalog
from gateway.pipeline.telemetry import RecordTelemetry
from gateway.request import RequestContext, Route
from gateway.telemetry import tracing
from gateway.telemetry.logging import JsonFormatter
from providers.base import ChatRequest, ChatResult, Usage
from providers.mock import MockProvider

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-upstream"}


class Discard(SpanExporter):
    """Accepts every batch and keeps nothing."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def one_request(ctx: RequestContext, provider: MockProvider, client_headers: dict[str, str]) -> None:
    tracing.begin_request(client_headers)
    with tracing.upstream_attempt(ctx.operation.value, ctx.request, provider, "echo"):
        headers = dict(HEADERS)
        propagate.inject(headers)
    tracing.end_request(ctx, model="mock-echo", genai_system="mock")


def per_call_us(fn: Callable[[], None], n: int) -> float:
    """Microseconds per call, best of three runs, each call in a fresh context as a request's."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            contextvars.copy_context().run(fn)
        best = min(best, time.perf_counter() - started)
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    args = parser.parse_args()

    ctx = RequestContext(request_id="req_bench", request=ChatRequest(
        {"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}), api_key=None)
    ctx.result = ChatResult(body={"id": "x", "model": "echo", "choices": [{"finish_reason": "stop"}]},
                            usage=Usage(3, 1))
    ctx.usage = Usage(3, 1)
    ctx.route = Route("mock-echo", "mock", "echo")
    ctx.finished_at = time.perf_counter()
    provider = MockProvider("mock")

    baseline = per_call_us(lambda: None, args.n)
    print(f"fresh context per request (subtracted below): {baseline:.2f} us")
    tracing.use_provider(None)
    off = per_call_us(lambda: one_request(ctx, provider, {}), args.n) - baseline
    print(f"tracing off, no traceparent:        {off:6.2f} us/request")
    passthrough = per_call_us(lambda: one_request(ctx, provider, {"traceparent": TRACEPARENT}), args.n) - baseline
    print(f"tracing off, client traceparent:    {passthrough:6.2f} us/request (passed upstream unchanged)")

    sdk = TracerProvider()
    sdk.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=args.n * 8))
    tracing.use_provider(sdk)
    try:
        on = per_call_us(lambda: one_request(ctx, provider, {}), args.n) - baseline
        print(f"tracing on (2 spans, dropped):      {on:6.2f} us/request")
    finally:
        tracing.use_provider(None)
        sdk.shutdown()

    log = logging.getLogger("gateway.request")
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    stage = RecordTelemetry(load_catalog(None))

    def telemetry_stage() -> None:
        coroutine = stage(ctx)
        try:
            coroutine.send(None)
        except StopIteration:
            pass

    metrics_and_log = per_call_us(telemetry_stage, args.n // 5) - baseline
    print(f"telemetry stage, tracing off (metrics + JSON log line): {metrics_and_log:6.2f} us/request")


if __name__ == "__main__":
    main()
