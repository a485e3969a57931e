"""With OTEL_EXPORTER_OTLP_ENDPOINT set, spans go out over OTLP/HTTP (to a collector on
loopback here); without it, tracing stays off and nothing is sent."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from gateway.telemetry import tracing
from tests.conftest import make_settings
from tests.integration.telemetry.traffic import MODEL, chat
from tests.support.gateway import running_gateway
from tests.support.threads import LoopThread, free_port


@dataclass
class Collector:
    url: str
    exports: list[ExportTraceServiceRequest] = field(default_factory=list)

    def spans(self) -> list[tuple[str, int, dict[str, str]]]:
        """(name, kind, resource attributes) of every span received."""
        out = []
        for export in self.exports:
            for resource_spans in export.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    out += [(span.name, span.kind, resource) for span in scope_spans.spans]
        return out


@pytest.fixture
def collector() -> Iterator[Collector]:
    port = free_port()
    received = Collector(url=f"http://127.0.0.1:{port}")

    async def traces(request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        received.exports.append(export)
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    thread = LoopThread("otlp-collector")
    runner = web.AppRunner(app, handle_signals=False)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    thread.call(start)
    try:
        yield received
    finally:
        thread.call(runner.cleanup)
        thread.stop()


def test_spans_are_exported_over_otlp_when_an_endpoint_is_set(
        collector: Collector, catalog_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    with running_gateway(make_settings(sqlite_url, catalog_path)) as gw:
        assert tracing.enabled()
        assert chat(gw.url, gw.create_key(), "export me").status_code == 200
    assert not tracing.enabled()              # the runtime's close shut the exporter down (flushing it)
    received = collector.spans()
    assert sorted((name, kind) for name, kind, _ in received) == [
        (f"chat {MODEL}", 2),   # SPAN_KIND_SERVER
        (f"chat {MODEL}", 3),   # SPAN_KIND_CLIENT
    ]
    assert all(resource["service.name"] == "llm-gateway" for _, _, resource in received)


def test_nothing_is_traced_or_sent_without_an_endpoint(
        collector: Collector, catalog_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    with running_gateway(make_settings(sqlite_url, catalog_path)) as gw:
        assert not tracing.enabled()
        assert chat(gw.url, gw.create_key(), "do not export me").status_code == 200
    assert collector.exports == []
