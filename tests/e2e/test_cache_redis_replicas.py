"""The Redis-backed cache shared by two `llm-gateway serve` processes on one Redis and one
PostgreSQL: an answer one process got from the model, the other serves from the cache,
streamed and plain, through the OpenAI SDK; still per tenant; kept with its TTL in Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI
from openai.lib.streaming.chat import ChatCompletionStreamState
from redis import Redis

from tests.conftest import unique
from tests.fakes.openai_upstream import FakeOpenAI
from tests.integration.tenancy.support import GatewayProcess, gateway_env

pytestmark = pytest.mark.timeout(180)

TTL = 120


def catalog(upstream_url: str) -> str:
    return f"""
providers:
  primary: {{type: openai, base_url: "{upstream_url}", api_key: sk-upstream-secret-primary}}
models:
  gpt-4o-mini:
    price: {{input: 0.15, output: 0.60}}
    deployments: [{{provider: primary, upstream: gpt-4o-mini}}]
tiers:
  pro: {{rpm: 1000}}
cache: {{mode: exact, ttl_seconds: {TTL}, scope: tenant}}
"""


@pytest.fixture
def replicas(upstream: FakeOpenAI, postgres_url: str, redis_url: str,
             tmp_path: Path) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    (tmp_path / "gateway.yaml").write_text(catalog(upstream.url))
    env = gateway_env(postgres_url, tmp_path, redis_url=redis_url, log_level="warning")
    with ExitStack() as stack:
        yield stack.enter_context(GatewayProcess(env, tmp_path)), stack.enter_context(GatewayProcess(env, tmp_path))


def sdk_for(replica: GatewayProcess, key: str) -> OpenAI:
    return OpenAI(base_url=replica.url + "/v1", api_key=key, max_retries=0, timeout=30)


def new_key(replica: GatewayProcess) -> str:
    tenant = unique("cache")
    assert replica.admin("POST", "/admin/tenants", json={"name": tenant, "tier": "pro", "models": ["*"]}).status_code == 201
    issued = replica.admin("POST", f"/admin/tenants/{tenant}/keys", json={"label": "cache"})
    assert issued.status_code == 201, issued.text
    key: str = issued.json()["key"]
    return key


def streamed(sdk: OpenAI, content: str) -> tuple[str, str | None, list[Any]]:
    raw = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": content}], stream=True)
    chunks = list(raw.parse())
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(chunk)
    return raw.headers["x-gateway-cache"], state.get_final_completion().choices[0].message.content, chunks


def plain(sdk: OpenAI, content: str) -> tuple[str, str | None]:
    raw = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": content}])
    return raw.headers["x-gateway-cache"], raw.parse().choices[0].message.content


def test_two_processes_share_one_cache(replicas: tuple[GatewayProcess, GatewayProcess], upstream: FakeOpenAI,
                                       redis_url: str) -> None:
    first, second = replicas
    key = new_key(first)
    question = f"shared across replicas {unique()}"
    expected = f"echo: {question}"

    status, text, _ = streamed(sdk_for(first, key), question)
    assert (status, text) == ("miss", expected)
    status, text, chunks = streamed(sdk_for(second, key), question)
    assert (status, text) == ("hit", expected)
    assert all((c.model_extra or {}).get("cache") == "hit" for c in chunks)
    assert plain(sdk_for(second, key), question) == ("hit", expected)
    assert plain(sdk_for(first, key), question) == ("hit", expected)
    assert len(upstream.requests) == 1

    # another tenant asking the same, on either process, is a miss
    other = new_key(second)
    assert plain(sdk_for(second, other), question) == ("miss", expected)
    assert len(upstream.requests) == 2

    # the entries live in Redis with the catalog's TTL
    client = Redis.from_url(redis_url)
    mine: list[bytes] = []
    try:
        mine = [k for k in client.scan_iter(match="gw:cache:v1:*", count=1000)
                if question.encode() in (client.get(k) or b"")]
        assert len(mine) == 2
        assert all(0 < client.ttl(k) <= TTL for k in mine)
    finally:
        if mine:
            client.delete(*mine)     # this test's own entries only
        client.close()


def test_no_store_on_one_process_leaves_nothing_for_the_other(
        replicas: tuple[GatewayProcess, GatewayProcess], upstream: FakeOpenAI) -> None:
    first, second = replicas
    key = new_key(first)
    question = f"not to be kept {unique()}"
    raw = sdk_for(first, key).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}], extra_headers={"Cache-Control": "no-store"})
    assert raw.headers["x-gateway-cache"] == "miss"
    assert plain(sdk_for(second, key), question)[0] == "miss"
    assert plain(sdk_for(first, key), question)[0] == "hit"
