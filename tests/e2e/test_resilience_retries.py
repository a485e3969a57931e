"""One retry in place for a retryable failure -- after the upstream's Retry-After when it
sent one -- and a budget that keeps retries to a fraction of first attempts, so that an
outage does not turn into a retry storm."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.fakes.openai_upstream import Behavior, FakeOpenAI, FakeOpenAIServer
from tests.integration.routing.helpers import catalog, chat
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

RATIO = 0.2
ROUTING = f"""
routing:
  breaker: {{min_requests: 100000}}      # these tests watch the retry budget alone
  retry: {{budget_ratio: {RATIO}, budget_window_seconds: 60, backoff_seconds: 0.01, max_retry_after_seconds: 2}}
"""


@pytest.fixture
def setup(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[RunningGateway, FakeOpenAI, FakeOpenAI]]:
    with FakeOpenAIServer() as primary, FakeOpenAIServer() as secondary:
        path = write_catalog(tmp_path, catalog(primary.url, secondary.url, routing=ROUTING))
        with running_gateway(make_settings(sqlite_url, path)) as gw:
            yield gw, primary, secondary


def earn_budget(gw: RunningGateway, key: str, requests: int = 5) -> None:
    """First attempts fill the budget: 5 of them at 20% buy one retry."""
    for _ in range(requests):
        assert chat(gw, key).status_code == 200


def test_a_429_is_retried_in_place_after_its_retry_after(setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI]) -> None:
    gw, primary, secondary = setup
    key = gw.create_key()
    earn_budget(gw, key)
    primary.then(Behavior("status", 429, retry_after="1"))
    started = time.monotonic()
    response = chat(gw, key, request_id="req-429")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.headers["x-gateway-provider"] == "primary"
    assert len(primary.requests) == 5 + 2 and secondary.requests == []
    assert 1.0 <= elapsed < 1.1 + 1.5             # Retry-After plus at most 10% jitter, plus slack


def test_a_retry_after_beyond_the_bound_falls_back_at_once(
        setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI]) -> None:
    gw, primary, secondary = setup
    key = gw.create_key()
    earn_budget(gw, key)
    primary.then(Behavior("status", 429, retry_after="30"))
    started = time.monotonic()
    response = chat(gw, key)
    assert time.monotonic() - started < 0.8
    assert response.headers["x-gateway-provider"] == "secondary"
    assert len(primary.requests) == 5 + 1 and len(secondary.requests) == 1


def test_a_500_is_retried_once_in_place_then_falls_back(setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI]) -> None:
    gw, primary, secondary = setup
    key = gw.create_key()
    earn_budget(gw, key, 10)
    primary.then(Behavior("status", 500), Behavior("status", 502))
    response = chat(gw, key)
    assert response.headers["x-gateway-provider"] == "secondary"
    assert len(primary.requests) == 10 + 2 and len(secondary.requests) == 1


def test_without_budget_a_failure_is_not_retried(setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI]) -> None:
    gw, primary, secondary = setup
    primary.then(Behavior("status", 500))
    response = chat(gw, gw.create_key())         # a cold gateway: no first attempts, no budget
    assert response.headers["x-gateway-provider"] == "secondary"
    assert len(primary.requests) == 1 and len(secondary.requests) == 1


def test_a_provider_wide_outage_stays_under_the_retry_ceiling(
        setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI]) -> None:
    gw, primary, _ = setup
    key = gw.create_key()
    primary.default = Behavior("status", 500)
    requests = 40
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: chat(gw, key, model="solo").status_code, range(requests)))
    assert statuses == [503] * requests
    attempts = len(primary.requests)
    assert attempts <= requests * (1 + RATIO)    # the ceiling: first attempts plus 20%
    assert attempts > requests                   # and the budget was used
