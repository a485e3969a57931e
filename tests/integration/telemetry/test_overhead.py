"""gateway_overhead_seconds is the request's time minus the upstream wait -- for a stream
too, where the wait is every chunk's, not only the first. Non-streamed answers carry it as
`x-gateway-overhead-ms`; a stream's headers leave before it is known, so they do not."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from gateway.telemetry.logging import JsonFormatter
from tests.fakes.openai_upstream import Behavior, FakeOpenAI
from tests.integration.telemetry.scrape import scrape
from tests.integration.telemetry.traffic import chat
from tests.support.gateway import RunningGateway

UPSTREAM_DELAY = 0.3
# Far above what the gateway adds on this machine, far below the upstream waits measured.
OVERHEAD_CEILING_MS = 100


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "gateway.request"]


def test_a_slow_upstream_is_not_counted_as_overhead(
        gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.request")
    primary, _ = upstreams
    key = gateway.create_key()
    chat(gateway.url, key, "warm up the key cache")
    before = scrape(gateway.url)
    primary.then(Behavior(delay=UPSTREAM_DELAY))
    response = chat(gateway.url, key, "a slow answer")
    after = scrape(gateway.url)

    assert response.status_code == 200
    header_ms = float(response.headers["x-gateway-overhead-ms"])
    line = request_lines(caplog)[-1]
    assert line["latency_ms"] >= UPSTREAM_DELAY * 1000
    assert 0 <= header_ms < OVERHEAD_CEILING_MS
    assert line["overhead_ms"] == pytest.approx(header_ms, abs=0.01)      # the header is the metric's figure
    assert line["upstream_ms"] >= UPSTREAM_DELAY * 1000
    observed = after.delta(before, "gateway_overhead_seconds_sum")
    assert after.delta(before, "gateway_overhead_seconds_count") == 1
    assert observed == pytest.approx(line["overhead_ms"] / 1000, abs=1e-5)


def test_every_chunk_of_a_slow_stream_is_upstream_wait(
        gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.request")
    primary, _ = upstreams
    key = gateway.create_key()
    chat(gateway.url, key, "warm up the key cache")
    primary.then(Behavior("drip", delay=0.1))
    response = chat(gateway.url, key, "one two three four five six", stream=True)

    assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n")
    assert "x-gateway-overhead-ms" not in response.headers
    line = request_lines(caplog)[-1]
    assert line["latency_ms"] >= 0.1 * 7 * 1000          # seven words, one drip before each after the first
    assert line["upstream_ms"] >= 0.1 * 7 * 1000
    assert 0 <= line["overhead_ms"] < OVERHEAD_CEILING_MS
    assert line["ttft_ms"] < line["latency_ms"] - 500


def test_a_cache_hit_is_all_overhead(gateway: RunningGateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.request")
    key = gateway.create_key()
    chat(gateway.url, key, "remember this")
    response = chat(gateway.url, key, "remember this")
    assert response.headers["x-gateway-cache"] == "hit"
    line = request_lines(caplog)[-1]
    assert line["upstream_ms"] == 0
    assert line["overhead_ms"] == pytest.approx(line["latency_ms"], abs=0.01)
