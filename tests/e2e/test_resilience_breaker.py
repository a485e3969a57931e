"""A deployment that keeps failing is taken out of the chain by its circuit breaker: no
call reaches it until the cool-down ends, then a few probes decide whether it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings
from tests.fakes.openai_upstream import Behavior, FakeOpenAI, FakeOpenAIServer
from tests.integration.routing.helpers import catalog, chat
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

COOLDOWN = 2.5
ROUTING = f"""
routing:
  breaker: {{failure_rate: 0.5, min_requests: 4, window_seconds: 30, cooldown_seconds: {COOLDOWN},
            half_open_probes: 2}}
  retry: {{budget_ratio: 0}}
"""


@pytest.fixture
def setup(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[RunningGateway, FakeOpenAI, FakeOpenAI]]:
    with FakeOpenAIServer() as primary, FakeOpenAIServer() as secondary:
        path = write_catalog(tmp_path, catalog(primary.url, secondary.url, routing=ROUTING))
        with running_gateway(make_settings(sqlite_url, path)) as gw:
            yield gw, primary, secondary


def deployment(gw: RunningGateway, model: str, provider: str) -> dict[str, object]:
    response = gw.admin("GET", "/admin/providers")
    assert response.status_code == 200, response.text
    rows = [r for r in response.json()["data"] if r["model"] == model and r["provider"] == provider]
    assert len(rows) == 1
    row: dict[str, object] = rows[0]
    return row


def circuit_gauge(gw: RunningGateway, provider: str) -> float:
    for line in httpx.get(gw.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(f'gateway_circuit_state{{provider="{provider}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no gateway_circuit_state series for " + provider)


def test_500s_open_the_breaker_then_no_call_reaches_it_until_half_open(
        setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI]) -> None:
    gw, primary, _ = setup
    key = gw.create_key()
    primary.default = Behavior("status", 500)
    for _ in range(4):                                    # min_requests failures: the breaker opens
        assert chat(gw, key).headers["x-gateway-provider"] == "secondary"
    opened = time.monotonic()                             # the cool-down began a little before this
    assert len(primary.requests) == 4
    row = deployment(gw, "gpt-4o-mini", "primary")
    assert row["state"] == "open" and row["error_rate"] == 1.0
    assert circuit_gauge(gw, "primary") == 2

    while time.monotonic() - opened < COOLDOWN / 2:       # open: skipped at once, never called
        response = chat(gw, key)
        assert response.status_code == 200 and response.headers["x-gateway-provider"] == "secondary"
    assert len(primary.requests) == 4
    healthy = deployment(gw, "gpt-4o-mini", "secondary")
    assert healthy["state"] == "closed" and healthy["error_rate"] == 0.0
    assert isinstance(healthy["latency_ewma_ms"], float) and healthy["latency_ewma_ms"] > 0

    primary.default = Behavior()                          # the upstream recovers
    time.sleep(max(0.0, COOLDOWN - (time.monotonic() - opened)) + 0.1)
    assert deployment(gw, "gpt-4o-mini", "primary")["state"] == "half_open"
    providers = [chat(gw, key).headers["x-gateway-provider"] for _ in range(3)]
    assert providers == ["primary"] * 3                   # two probes succeeded: closed again
    assert deployment(gw, "gpt-4o-mini", "primary")["state"] == "closed"
    assert circuit_gauge(gw, "primary") == 0


def test_a_failed_probe_opens_the_breaker_again(setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI]) -> None:
    gw, primary, _ = setup
    key = gw.create_key()
    primary.default = Behavior("status", 503)
    for _ in range(4):
        chat(gw, key)
    time.sleep(COOLDOWN + 0.1)
    assert chat(gw, key).headers["x-gateway-provider"] == "secondary"   # the probe failed, and fell back
    assert len(primary.requests) == 5
    assert deployment(gw, "gpt-4o-mini", "primary")["state"] == "open"
    chat(gw, key)
    assert len(primary.requests) == 5


def test_an_open_breaker_on_the_only_deployment_is_a_503_at_once(
        setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI]) -> None:
    gw, primary, _ = setup
    key = gw.create_key()
    primary.default = Behavior("status", 500)
    for _ in range(4):
        assert chat(gw, key, model="solo").status_code == 503
    started = time.monotonic()
    response = chat(gw, key, model="solo")
    assert time.monotonic() - started < 0.5
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "no_provider_available"
    assert 1 <= int(response.headers["Retry-After"]) <= COOLDOWN + 1
    assert len(primary.requests) == 4


def test_cheapest_skips_an_open_breaker(setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI]) -> None:
    gw, primary, _ = setup
    key = gw.create_key()
    primary.default = Behavior("status", 500)
    for _ in range(4):
        chat(gw, key)
    before = len(primary.requests)
    response = chat(gw, key, model="cheapest")
    assert response.status_code == 200
    assert response.headers["x-gateway-provider"] == "secondary"
    assert response.json()["model"] == "gpt-4o-mini"      # still the cheapest model, on its other deployment
    assert len(primary.requests) == before


def test_replicas_sharing_redis_share_the_breaker(sqlite_url: str, redis_url: str, tmp_path: Path) -> None:
    routing = ROUTING.replace(f"cooldown_seconds: {COOLDOWN}", "cooldown_seconds: 30")
    with FakeOpenAIServer() as primary, FakeOpenAIServer() as secondary:
        path = write_catalog(tmp_path, catalog(primary.url, secondary.url, routing=routing))
        settings = make_settings(sqlite_url, path, redis_url=redis_url)
        with running_gateway(settings) as one, running_gateway(settings) as two:
            primary.default = Behavior("status", 500)
            key_one = one.create_key()
            for _ in range(4):                            # the failures are all seen by replica one
                assert chat(one, key_one).headers["x-gateway-provider"] == "secondary"
            assert deployment(one, "gpt-4o-mini", "primary")["state"] == "open"
            deadline = time.monotonic() + 3
            while deployment(two, "gpt-4o-mini", "primary")["state"] != "open":
                assert time.monotonic() < deadline, "replica two never learned of the open breaker"
                time.sleep(0.05)
            response = chat(two, two.create_key())
            assert response.headers["x-gateway-provider"] == "secondary"
            assert len(primary.requests) == 4             # replica two skipped it without a call


def test_admin_providers_wants_the_admin_key(setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI]) -> None:
    gw, _, _ = setup
    tenant_key = gw.create_key()
    for headers in ({}, {"Authorization": f"Bearer {tenant_key}"}):
        response = httpx.get(gw.url + "/admin/providers", headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
    rows = gw.admin("GET", "/admin/providers").json()["data"]
    assert {(r["model"], r["provider"]) for r in rows} == {("gpt-4o-mini", "primary"), ("gpt-4o-mini", "secondary"),
                                                            ("solo", "primary")}
    assert all(r["state"] == "closed" and r["requests"] == 0 for r in rows)
