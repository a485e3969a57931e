"""Streams produce the right usage record: charged from the usage the provider reports when
the stream completes, for what was produced when the client leaves mid-way, and at zero
cost with the tokens saved when the cache answers. On SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from providers.tokens import estimate_prompt_tokens, tokens_for_chars
from tests.conftest import make_settings, unique
from tests.fakes.openai_upstream import Behavior, FakeOpenAI
from tests.integration.usage.conftest import gateway_records
from tests.support.catalogs import two_upstreams
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

INPUT, OUTPUT = Decimal("0.15"), Decimal("0.60")   # gpt-4o-mini in two_upstreams(), USD per 1M tokens
FAKE_PROMPT_TOKENS = 11                            # what the fake upstream reports


def cost(prompt: int, completion: int) -> Decimal:
    return (prompt * INPUT + completion * OUTPUT) / 1_000_000


@pytest.fixture
def gateway(upstream: FakeOpenAI, database_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    config = write_catalog(tmp_path, two_upstreams(upstream.url, upstream.url))
    with running_gateway(make_settings(database_url, config)) as gw:
        yield gw


def stream_request(gw: RunningGateway, key: str, content: str, request_id: str) -> list[str]:
    lines = []
    with httpx.stream("POST", gw.url + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}", "x-request-id": request_id},
                      json={"model": "gpt-4o-mini", "stream": True,
                            "messages": [{"role": "user", "content": content}]}) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line]
    return lines


def test_a_completed_stream_is_charged_from_the_reported_usage(gateway: RunningGateway) -> None:
    tenant = unique()
    key = gateway.create_key(name=tenant)
    lines = stream_request(gateway, key, "one two three", "req-complete-" + tenant)
    assert lines[-1] == "data: [DONE]"

    [record] = gateway_records(gateway, tenant)
    completion_tokens = len("echo: one two three".split())     # the fake's own count
    assert (record.client_request_id, record.status, record.http_status, record.stream) == (
        "req-complete-" + tenant, "ok", 200, True)
    assert (record.prompt_tokens, record.completion_tokens) == (FAKE_PROMPT_TOKENS, completion_tokens)
    assert record.cost_usd == cost(FAKE_PROMPT_TOKENS, completion_tokens)
    assert (record.model, record.provider, record.upstream_model) == ("gpt-4o-mini", "primary", "gpt-4o-mini")
    assert record.ttft_ms is not None and not record.cache_hit


def test_a_stream_the_client_abandons_is_charged_for_what_was_produced(
        gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    tenant = unique()
    key = gateway.create_key(name=tenant)
    words = [f"word{i:02d}" for i in range(30)]
    upstream.then(Behavior(kind="drip", delay=0.2, text=" ".join(words)))
    content = "tell me a long story"
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "gpt-4o-mini", "stream": True,
                            "messages": [{"role": "user", "content": content}]}) as response:
        received = 0
        for line in response.iter_lines():
            received += line.startswith("data: ")
            if received == 4:
                break   # the client goes away mid-stream

    [record] = gateway_records(gateway, tenant)
    assert (record.status, record.http_status, record.stream) == ("client_closed", 499, True)
    full = tokens_for_chars(len(" ".join(words)))
    assert 0 < record.completion_tokens < full
    prompt = estimate_prompt_tokens([{"role": "user", "content": content}])
    assert record.prompt_tokens == prompt
    assert record.cost_usd == cost(prompt, record.completion_tokens) > 0


def test_a_cache_hit_is_recorded_at_zero_cost_with_the_tokens_it_saved(gateway: RunningGateway) -> None:
    tenant = unique()
    key = gateway.create_key(name=tenant)
    first = stream_request(gateway, key, "cache me", "req-first-" + tenant)
    again = stream_request(gateway, key, "cache me", "req-hit-" + tenant)
    assert [line for line in first if "content" in line][:1] and again[-1] == "data: [DONE]"

    miss, hit = gateway_records(gateway, tenant, at_least=2)
    assert (miss.client_request_id, hit.client_request_id) == ("req-first-" + tenant, "req-hit-" + tenant)
    assert miss.request_id.startswith("req_") and miss.request_id != hit.request_id
    assert not miss.cache_hit and miss.cost_usd == cost(miss.prompt_tokens, miss.completion_tokens) > 0
    assert hit.cache_hit and hit.cost_usd == 0 and hit.stream
    assert (hit.prompt_tokens, hit.completion_tokens) == (miss.prompt_tokens, miss.completion_tokens)
    assert (hit.model, hit.provider, hit.status) == ("gpt-4o-mini", "cache", "ok")
