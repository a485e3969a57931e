"""Spans captured with the SDK's in-memory exporter: a SERVER span per request and a CLIENT
span per upstream attempt, with GenAI attributes and values, the parent/child structure
across a fallback, W3C traceparent in from the client and out to the upstream."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.conftest import make_settings
from tests.fakes.openai_upstream import Behavior, FakeOpenAI
from tests.integration.telemetry.traffic import EMAIL, FAKE_PROMPT_TOKENS, MODEL, chat, echoed_words
from tests.support.gateway import RunningGateway, running_gateway

CLIENT_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"


def by_kind(spans: Sequence[ReadableSpan], kind: SpanKind) -> list[ReadableSpan]:
    return sorted((s for s in spans if s.kind is kind), key=lambda s: s.start_time or 0)


def the_server_span(spans: Sequence[ReadableSpan]) -> ReadableSpan:
    servers = by_kind(spans, SpanKind.SERVER)
    assert len(servers) == 1, [s.name for s in spans]
    return servers[0]


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


def test_a_fallback_is_one_server_span_with_a_client_span_per_attempt(
        gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI], spans: InMemorySpanExporter) -> None:
    primary, secondary = upstreams
    tenant = gateway.create_tenant()
    key = gateway.create_key(tenant)
    primary.default = Behavior("status", 503)
    response = chat(gateway.url, key, "fall back please", headers={"traceparent": TRACEPARENT},
                    max_tokens=50, temperature=0.3)
    primary.default = Behavior()
    assert response.status_code == 200 and response.headers["x-gateway-provider"] == "secondary"

    finished = spans.get_finished_spans()
    server = the_server_span(finished)
    clients = by_kind(finished, SpanKind.CLIENT)
    trace_id, server_span_id = hex_ids(server)
    # The client's trace continues through the gateway.
    assert trace_id == CLIENT_TRACE_ID
    assert server.parent is not None and f"{server.parent.span_id:016x}" == CLIENT_SPAN_ID
    assert server.name == f"chat {MODEL}"
    attributes = dict(server.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == MODEL
    assert attributes["gen_ai.response.model"] == MODEL
    assert attributes["gen_ai.request.max_tokens"] == 50
    assert attributes["gen_ai.request.temperature"] == 0.3
    assert attributes["gen_ai.response.id"] == "chatcmpl-fake"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == FAKE_PROMPT_TOKENS
    assert attributes["gen_ai.usage.output_tokens"] == echoed_words("fall back please")
    assert attributes["gateway.tenant"] == tenant
    assert attributes["gateway.cache.result"] == "miss"
    assert attributes["gateway.fallback.count"] == 1
    assert attributes["gateway.redactions"] == 0
    assert attributes["http.response.status_code"] == 200
    assert attributes["gateway.request_id"] == response.headers["x-request-id"]
    assert server.status.status_code is StatusCode.UNSET

    # One client span per upstream call (the primary may be retried once), all children of the server span.
    assert len(clients) == len(primary.requests) + len(secondary.requests)
    for client in clients:
        assert hex_ids(client)[0] == trace_id
        assert client.parent is not None and f"{client.parent.span_id:016x}" == server_span_id
        assert client.name == f"chat {MODEL}"
        client_attributes = dict(client.attributes or {})
        assert client_attributes["gen_ai.operation.name"] == "chat"
        assert client_attributes["gen_ai.provider.name"] == "openai"
        assert client_attributes["gen_ai.request.model"] == MODEL
        assert client_attributes["gen_ai.request.max_tokens"] == 50
    assert [dict(c.attributes or {})["gateway.attempt"] for c in clients] == list(range(len(clients)))
    *failed, answered = clients
    assert failed and all(dict(c.attributes or {})["gateway.provider"] == "primary" for c in failed)
    for client in failed:
        assert client.status.status_code is StatusCode.ERROR
        assert dict(client.attributes or {})["error.type"] == "server"
        assert dict(client.attributes or {})["gateway.upstream.status"] == 503
    answered_attributes = dict(answered.attributes or {})
    assert answered_attributes["gateway.provider"] == "secondary"
    assert answered_attributes["gen_ai.response.id"] == "chatcmpl-fake"
    assert answered_attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert answered_attributes["gen_ai.usage.input_tokens"] == FAKE_PROMPT_TOKENS
    assert answered.status.status_code is StatusCode.UNSET

    # Each upstream call carried its own attempt's span as the W3C parent.
    sent = [r.headers.get("traceparent") for r in primary.requests + secondary.requests]
    assert sent == [f"00-{trace_id}-{hex_ids(c)[1]}-{c.context.trace_flags:02x}" for c in clients]


def test_a_stream_keeps_its_client_span_open_until_the_last_chunk(
        gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI], spans: InMemorySpanExporter) -> None:
    primary, _ = upstreams
    primary.then(Behavior("drip", delay=0.05))
    prompt = "one two three four five"
    response = chat(gateway.url, gateway.create_key(), prompt, stream=True)
    assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n")

    finished = spans.get_finished_spans()
    server = the_server_span(finished)
    (client,) = by_kind(finished, SpanKind.CLIENT)
    assert client.parent is not None and client.parent.span_id == server.context.span_id  # type: ignore[union-attr]
    words = echoed_words(prompt)
    assert client.end_time is not None and client.start_time is not None
    assert client.end_time - client.start_time >= 0.05 * words * 1e9   # every chunk, not just the first
    for span in (client, server):
        attributes = dict(span.attributes or {})
        assert attributes["gen_ai.response.id"] == "chatcmpl-fake"
        assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
        assert attributes["gen_ai.usage.input_tokens"] == FAKE_PROMPT_TOKENS
        assert attributes["gen_ai.usage.output_tokens"] == words
    assert dict(server.attributes or {})["gateway.stream"] is True


def test_a_cache_hit_has_no_client_span(gateway: RunningGateway, spans: InMemorySpanExporter) -> None:
    key = gateway.create_key()
    assert chat(gateway.url, key, "cache me").headers["x-gateway-cache"] == "miss"
    spans.clear()
    assert chat(gateway.url, key, "cache me").headers["x-gateway-cache"] == "hit"
    finished = spans.get_finished_spans()
    server = the_server_span(finished)
    assert by_kind(finished, SpanKind.CLIENT) == []
    attributes = dict(server.attributes or {})
    assert attributes["gateway.cache.result"] == "hit"
    assert attributes["gen_ai.response.id"] == "chatcmpl-fake"
    assert "gen_ai.provider.name" not in attributes


def test_redactions_and_rejections_are_attributes_never_text(gateway: RunningGateway,
                                                           spans: InMemorySpanExporter) -> None:
    key = gateway.create_key(tier="free")
    prompt = f"write to {EMAIL} about the secret plan"
    assert chat(gateway.url, key, prompt).status_code == 200
    assert chat(gateway.url, key, "second").status_code == 200
    rejected = chat(gateway.url, key, "third")
    assert rejected.status_code == 429

    servers = by_kind(spans.get_finished_spans(), SpanKind.SERVER)
    assert len(servers) == 3
    redacted, _, limited = (dict(s.attributes or {}) for s in servers)
    assert redacted["gateway.redactions"] == 1
    assert redacted["gateway.redaction.types"] == ("email",)
    assert limited["http.response.status_code"] == 429
    assert limited["error.type"] == rejected.json()["error"]["code"]
    assert servers[2].status.status_code is StatusCode.UNSET    # a client error is not a server fault
    everything = repr([(s.name, dict(s.attributes or {}), s.events) for s in spans.get_finished_spans()])
    for text in (EMAIL, "secret plan", "second", key):
        assert text not in everything


def test_a_failed_request_marks_the_server_span_as_an_error(
        gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI], spans: InMemorySpanExporter) -> None:
    primary, secondary = upstreams
    primary.default = secondary.default = Behavior("status", 500)
    response = chat(gateway.url, gateway.create_key(), "nobody answers")
    primary.default = secondary.default = Behavior()
    assert response.status_code == 503
    server = the_server_span(spans.get_finished_spans())
    assert server.status.status_code is StatusCode.ERROR
    assert dict(server.attributes or {})["error.type"] == response.json()["error"]["code"]


def test_the_mock_provider_is_named_as_itself(gateway: RunningGateway, spans: InMemorySpanExporter) -> None:
    assert chat(gateway.url, gateway.create_key(), "hi", model="mock-echo").status_code == 200
    (client,) = by_kind(spans.get_finished_spans(), SpanKind.CLIENT)
    assert dict(client.attributes or {})["gen_ai.provider.name"] == "mock"
    assert client.name == "chat echo"


def test_content_is_traced_only_when_the_setting_asks(catalog_path: Path, sqlite_url: str,
                                                    spans: InMemorySpanExporter) -> None:
    prompt = "a prompt that may be traced"
    with running_gateway(make_settings(sqlite_url, catalog_path, trace_content=True)) as gw:
        assert chat(gw.url, gw.create_key(), prompt).status_code == 200
    attributes = dict(the_server_span(spans.get_finished_spans()).attributes or {})
    assert prompt in str(attributes["gen_ai.input.messages"])
    assert f"echo: {prompt}" in str(attributes["gen_ai.output.messages"])

    spans.clear()
    with running_gateway(make_settings(sqlite_url, catalog_path)) as gw:
        assert chat(gw.url, gw.create_key(), prompt).status_code == 200
    attributes = dict(the_server_span(spans.get_finished_spans()).attributes or {})
    assert "gen_ai.input.messages" not in attributes and "gen_ai.output.messages" not in attributes
    assert prompt not in repr(attributes)


def test_with_tracing_off_the_clients_traceparent_still_reaches_the_upstream(
        gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    primary, _ = upstreams
    key = gateway.create_key()
    assert chat(gateway.url, key, "pass it on", headers={"traceparent": TRACEPARENT}).status_code == 200
    assert chat(gateway.url, key, "no trace here").status_code == 200
    assert primary.requests[0].headers.get("traceparent") == TRACEPARENT
    assert "traceparent" not in {h.lower() for h in primary.requests[1].headers}
