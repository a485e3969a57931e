"""The upstream (CLIENT) span of a request to a vLLM pool names the replica that served it."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.conftest import make_settings
from tests.fakes.vllm_replica import ReplicaServer, ReplicaSpec
from tests.integration.telemetry.traffic import chat
from tests.support.gateway import running_gateway, write_catalog
from tests.support.vllm_pool import pool_catalog


def test_the_upstream_span_carries_the_chosen_replica(
        spans: InMemorySpanExporter, sqlite_url: str, tmp_path: Path) -> None:
    with ReplicaServer(ReplicaSpec(seed=1), name="r0") as down, ReplicaServer(ReplicaSpec(seed=2), name="r1") as up:
        down.fail_status = 503                  # the first pick fails before its first byte
        config = write_catalog(tmp_path, pool_catalog([down.url, up.url], picker="round-robin"))
        with running_gateway(make_settings(sqlite_url, config)) as gw:
            key = gw.create_key()
            response = chat(gw.url, key, "which replica?", model="sim-model", max_tokens=3)
            assert response.status_code == 200, response.text
    clients = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert len(clients) == 1
    attributes = dict(clients[0].attributes or {})
    assert attributes["gateway.replica"] == f"127.0.0.1:{up.port}"
    assert attributes["server.address"] == "127.0.0.1" and attributes["server.port"] == up.port
    assert attributes["gateway.picker.reason"] == "fallback"
    assert attributes["gen_ai.provider.name"] == "vllm"
