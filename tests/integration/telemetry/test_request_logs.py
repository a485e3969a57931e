"""One JSON log line per request with the fields operators need, lifecycle lines at start
and stop, and -- scanning everything logged -- never a key or a word of the prompt."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gateway.telemetry.logging import JsonFormatter
from tests.conftest import make_settings
from tests.fakes.openai_upstream import Behavior, FakeOpenAI
from tests.integration.telemetry.traffic import EMAIL, MODEL, PROMPTS, chat, scripted_traffic
from tests.support.gateway import RunningGateway, running_gateway

REQUEST_FIELDS = {"request_id", "trace_id", "tenant", "feature", "model", "provider", "status", "prompt_tokens",
                  "completion_tokens", "cost_usd", "latency_ms", "ttft_ms", "overhead_ms", "cache", "fallbacks"}


def formatted(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(record)) for record in caplog.records]


def test_one_line_per_request_with_its_fields_and_nothing_secret(
        gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI], spans: InMemorySpanExporter,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    primary, _ = upstreams
    pro, free = gateway.create_tenant(tier="pro"), gateway.create_tenant(tier="free")
    pro_key, free_key = gateway.create_key(pro), gateway.create_key(free)
    traffic = scripted_traffic(gateway.url, pro_key, free_key, primary)
    featured = chat(gateway.url, pro_key, "tagged question", headers={"x-gateway-feature": "search"})
    responses = [*traffic.responses, featured]

    lines = formatted(caplog)
    requests = [line for line in lines if line["logger"] == "gateway.request"]
    assert [line["request_id"] for line in requests] == [r.headers["x-request-id"] for r in responses]
    for line in requests:
        assert REQUEST_FIELDS <= set(line), set(line) ^ REQUEST_FIELDS
        assert line["model"] == MODEL and line["msg"] == "request"
    servers = {dict(s.attributes or {})["gateway.request_id"]: s
               for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER}
    for line in requests:   # the log line names the request's trace
        context = servers[line["request_id"]].context
        assert context is not None and line["trace_id"] == f"{context.trace_id:032x}"

    first, hit, fallback, redacted, stream, _, _, limited, tagged = requests
    assert (first["tenant"], first["provider"], first["status"], first["cache"]) == (pro, "primary", 200, "miss")
    assert first["prompt_tokens"] == 11 and first["completion_tokens"] > 0 and float(first["cost_usd"]) > 0
    assert first["latency_ms"] >= first["overhead_ms"] >= 0 and first["ttft_ms"] is None
    assert (hit["provider"], hit["cache"], hit["cost_usd"]) == ("cache", "hit", "0")
    assert (fallback["provider"], fallback["fallbacks"]) == ("secondary", 1)
    assert fallback["upstream_errors"] and set(fallback["upstream_errors"]) == {"primary:server"}
    assert redacted["redactions"] == 1
    assert stream["stream"] is True and 0 < stream["ttft_ms"] <= stream["latency_ms"]
    assert (limited["tenant"], limited["status"], limited["provider"]) == (free, 429, "none")
    assert limited["error_code"] == f"{traffic.limit}_exceeded"
    assert tagged["feature"] == "search"

    everything = caplog.text + "\n".join(json.dumps(line) for line in lines)
    for secret in (pro_key, free_key, gateway.admin_key, "sk-upstream-secret"):
        assert secret not in everything
    for prompt in (*PROMPTS.values(), "tagged question", EMAIL):
        assert prompt not in everything


def test_a_request_the_gateway_failed_is_a_warning_naming_each_upstream_error(
        gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    primary, secondary = upstreams
    primary.default = secondary.default = Behavior("status", 500)
    response = chat(gateway.url, gateway.create_key(), "nobody will answer this")
    primary.default = secondary.default = Behavior()
    assert response.status_code == 503
    (line,) = [line for line in formatted(caplog) if line["logger"] == "gateway.request"]
    assert (line["level"], line["status"], line["outcome"]) == ("warning", 503, "error")
    assert line["error_code"] == response.json()["error"]["code"]
    assert set(line["upstream_errors"]) == {"primary:server", "secondary:server"}
    assert "nobody will answer" not in caplog.text


def test_lifecycle_lines_at_start_and_stop(catalog_path: Path, sqlite_url: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with running_gateway(make_settings(sqlite_url, catalog_path)):
        pass
    lifecycle = [line for line in formatted(caplog) if line["logger"] == "gateway.lifecycle"]
    assert [line["msg"] for line in lifecycle] == ["gateway starting", "gateway stopped"]
    starting = lifecycle[0]
    assert starting["providers"] == ["mock", "primary", "secondary"]
    assert starting["tracing"] is False and starting["trace_content"] is False
    assert isinstance(starting["pid"], int) and starting["level"] == "info"
