"""The response cache end to end through the OpenAI SDK, on an embedded gateway (in-process
store): a streamed miss, a streamed hit and a plain hit give the same answer (text and tool
calls); tenants never share entries unless the catalog says so; Cache-Control and the
tenant's cache mode are honoured; only complete, successful answers are kept; a hit costs
nothing and charges no tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI, RateLimitError
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.conftest import make_settings
from tests.fakes.openai_upstream import Behavior, FakeOpenAI
from tests.integration.telemetry.scrape import scrape
from tests.integration.usage.conftest import gateway_records
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

TOOLS: list[Any] = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def catalog(upstream_url: str, scope: str = "tenant") -> str:
    return f"""
providers:
  primary: {{type: openai, base_url: "{upstream_url}", api_key: sk-upstream-secret-primary,
            timeouts: {{connect: 2, first_byte: 5, idle: 5, total: 30}}}}
  mock: {{type: mock}}
models:
  gpt-4o-mini:
    price: {{input: 0.15, output: 0.60}}
    deployments: [{{provider: primary, upstream: gpt-4o-mini}}]
  mock-echo:
    price: {{input: 1, output: 2}}
    deployments: [{{provider: mock, upstream: echo}}]
tiers:
  pro: {{rpm: 1000, tpm: 1000000}}
cache: {{mode: exact, ttl_seconds: 60, scope: {scope}}}
"""


@pytest.fixture
def gateway(upstream: FakeOpenAI, sqlite_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(make_settings(sqlite_url, write_catalog(tmp_path, catalog(upstream.url)))) as gw:
        yield gw


def sdk_for(gw: RunningGateway, tenant: str | None = None, **tenant_options: Any) -> OpenAI:
    key = gw.create_key(tenant, **tenant_options) if tenant else gw.create_key(**tenant_options)
    return OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=30)


def ask(sdk: OpenAI, content: str = "hello cache", *, model: str = "gpt-4o-mini", cache_control: str | None = None,
        **extra: Any) -> tuple[str, ChatCompletion]:
    headers = {"Cache-Control": cache_control} if cache_control else {}
    raw = sdk.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": content}], extra_headers=headers, **extra)
    return raw.headers["x-gateway-cache"], raw.parse()


def ask_streamed(sdk: OpenAI, content: str = "hello cache", *, model: str = "gpt-4o-mini",
                 cache_control: str | None = None, **extra: Any) -> tuple[str, list[ChatCompletionChunk], Any]:
    """The x-gateway-cache header, the chunks, and the completion the SDK's own stream
    accumulator (what `client.chat.completions.stream()` uses) builds from them."""
    headers = {"Cache-Control": cache_control} if cache_control else {}
    raw = sdk.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": content}], stream=True, extra_headers=headers, **extra)
    chunks = list(raw.parse())
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState(input_tools=extra.get("tools", []))
    for chunk in chunks:
        state.handle_chunk(chunk)
    return raw.headers["x-gateway-cache"], chunks, state.get_final_completion()


def answer_of(completion: Any) -> list[tuple[Any, ...]]:
    """What a completion says: per choice, its text, tool calls and finish reason."""
    return [(c.index, c.message.content,
             [(t.id, t.function.name, t.function.arguments) for t in c.message.tool_calls or []], c.finish_reason)
            for c in completion.choices]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "mock-echo"])
def test_a_streamed_miss_then_a_streamed_hit_and_a_plain_hit_are_the_same_answer(
        gateway: RunningGateway, upstream: FakeOpenAI, model: str) -> None:
    sdk = sdk_for(gateway)
    asked = len(upstream.requests)
    status, _, streamed_miss = ask_streamed(sdk, "tell me about caches", model=model)
    assert status == "miss"
    status, chunks, streamed_hit = ask_streamed(sdk, "tell me about caches", model=model)
    assert status == "hit"
    status, plain_hit = ask(sdk, "tell me about caches", model=model)
    assert status == "hit"

    expected = "echo: tell me about caches" if model == "gpt-4o-mini" else "tell me about caches"
    assert answer_of(streamed_miss) == answer_of(streamed_hit) == answer_of(plain_hit) == [(0, expected, [], "stop")]
    assert streamed_miss.id == streamed_hit.id == plain_hit.id
    # a hit says so, on every replayed chunk and in the body
    assert chunks and all((c.model_extra or {}).get("cache") == "hit" for c in chunks)
    assert (plain_hit.model_extra or {}).get("cache") == "hit"
    assert plain_hit.usage is not None and plain_hit.usage.total_tokens > 0       # the usage it saved
    if model == "gpt-4o-mini":
        assert len(upstream.requests) == asked + 1


def test_streamed_tool_calls_come_back_from_the_cache_streamed_and_plain(
        gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    sdk = sdk_for(gateway)
    upstream.then(Behavior(kind="tool_stream"))
    status, _, miss = ask_streamed(sdk, "weather in Paris and Oslo?", tools=TOOLS)
    assert status == "miss"
    status, _, streamed_hit = ask_streamed(sdk, "weather in Paris and Oslo?", tools=TOOLS)
    status_plain, plain_hit = ask(sdk, "weather in Paris and Oslo?", tools=TOOLS)
    assert (status, status_plain) == ("hit", "hit")
    calls = [("call_1", "get_weather", '{"city": "Paris"}'), ("call_2", "get_weather", '{"city": "Oslo"}')]
    assert answer_of(miss) == answer_of(streamed_hit) == answer_of(plain_hit) == [(0, None, calls, "tool_calls")]
    assert len(upstream.requests) == 1


def test_a_plain_miss_answers_a_streamed_hit(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    sdk = sdk_for(gateway)
    status, plain = ask(sdk, "plain first", temperature=0)
    status_streamed, _, streamed = ask_streamed(sdk, "plain first", temperature=0,
                                                stream_options={"include_usage": True})
    assert (status, status_streamed) == ("miss", "hit")
    assert answer_of(plain) == answer_of(streamed)
    assert streamed.usage is not None and plain.usage is not None
    assert streamed.usage.total_tokens == plain.usage.total_tokens
    # a parameter that changes the answer is another entry
    assert ask(sdk, "plain first", temperature=0.5)[0] == "miss"


def test_one_tenant_never_reads_another_tenants_answer(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    alice, bob = sdk_for(gateway), sdk_for(gateway)
    upstream.then(Behavior(text="alice's private answer"))
    assert ask(alice, "the same question")[0] == "miss"
    assert ask(alice, "the same question")[0] == "hit"
    status, answer = ask(bob, "the same question")
    assert status == "miss" and answer.choices[0].message.content == "echo: the same question"
    status, _, streamed = ask_streamed(bob, "the same question")
    assert status == "hit" and streamed.choices[0].message.content == "echo: the same question"
    assert len(upstream.requests) == 2


def test_a_shared_scope_is_shared_only_because_the_catalog_says_so(upstream: FakeOpenAI, sqlite_url: str,
                                                                  tmp_path: Path) -> None:
    config = write_catalog(tmp_path, catalog(upstream.url, scope="shared"))
    with running_gateway(make_settings(sqlite_url, config)) as gw:
        alice, bob = sdk_for(gw), sdk_for(gw)
        assert ask(alice, "a shared question")[0] == "miss"
        assert ask(bob, "a shared question")[0] == "hit"


def test_no_store_skips_the_write_and_no_cache_skips_the_read(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    sdk = sdk_for(gateway)
    assert ask(sdk, "q", cache_control="no-store")[0] == "miss"
    assert ask_streamed(sdk, "q", cache_control="no-store")[0] == "miss"      # nothing was kept
    upstream.then(Behavior(text="first answer"))
    assert ask(sdk, "q")[0] == "miss"                                          # kept now
    assert ask(sdk, "q", cache_control="no-store")[1].choices[0].message.content == "first answer"  # reads still

    upstream.then(Behavior(text="fresh answer"))
    status, fresh = ask(sdk, "q", cache_control="no-cache")
    assert status == "bypass" and fresh.choices[0].message.content == "fresh answer"   # asked the model
    status, _, streamed = ask_streamed(sdk, "q")
    assert status == "hit" and streamed.choices[0].message.content == "fresh answer"   # and kept what it said

    upstream.then(Behavior(text="neither kept nor read"))
    status, neither = ask(sdk, "q", cache_control="no-cache, no-store")
    assert status == "bypass" and neither.choices[0].message.content == "neither kept nor read"
    assert ask(sdk, "q")[1].choices[0].message.content == "fresh answer"
    assert len(upstream.requests) == 5


def test_a_tenant_with_the_cache_off_always_bypasses(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    sdk = sdk_for(gateway, cache_mode="off")
    assert [ask(sdk, "again")[0] for _ in range(2)] + [ask_streamed(sdk, "again")[0]] == ["bypass"] * 3
    assert len(upstream.requests) == 3


def test_only_complete_successful_answers_are_kept(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    sdk = sdk_for(gateway)
    # an upstream error
    upstream.then(Behavior(kind="status", status=400))
    with pytest.raises(openai.BadRequestError):
        ask(sdk, "error first")
    assert ask(sdk, "error first")[0] == "miss"
    # a stream the upstream cut halfway
    upstream.then(Behavior(kind="cut"))
    with pytest.raises(openai.APIError):
        ask_streamed(sdk, "cut first")
    assert ask(sdk, "cut first")[0] == "miss"
    # n=2 asked, one choice answered (the fake answers one): a partial answer
    assert ask(sdk, "two please", n=2)[0] == "miss"
    assert ask(sdk, "two please", n=2)[0] == "miss"


def test_an_abandoned_stream_is_not_kept(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    tenant = gateway.create_tenant()
    sdk = sdk_for(gateway, tenant)
    upstream.then(Behavior(kind="slow_stream", chunk_delay=0.3))
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {sdk.api_key}"},
                      json={"model": "gpt-4o-mini", "stream": True,
                            "messages": [{"role": "user", "content": "one two three four five six"}]}) as response:
        assert response.headers["x-gateway-cache"] == "miss"
        next(response.iter_lines())            # the first chunk, then the client goes away
    [record] = gateway_records(gateway, tenant)     # the gateway has finished with it
    assert record.status == "client_closed"
    assert ask(sdk, "one two three four five six")[0] == "miss"


def test_a_hit_costs_nothing_charges_no_tokens_and_says_what_it_saved(gateway: RunningGateway) -> None:
    tenant = gateway.create_tenant()
    sdk = sdk_for(gateway, tenant)
    content = "count the tokens this hit saves"
    remaining = []
    for expected in ("miss", "hit", "hit", "hit"):
        raw = sdk.chat.completions.with_raw_response.create(model="mock-echo",
                                                            messages=[{"role": "user", "content": content}])
        assert raw.headers["x-gateway-cache"] == expected
        remaining.append(int(raw.headers["x-ratelimit-remaining-tokens"]))
    # each hit reserved the same estimate and gave it all back: the window did not move
    assert remaining[1] == remaining[2] == remaining[3]
    records = gateway_records(gateway, tenant, at_least=4)
    miss, *hits = records
    assert not miss.cache_hit and Decimal(miss.cost_usd) > 0
    for hit in hits:
        assert hit.cache_hit and Decimal(hit.cost_usd) == 0 and hit.provider == "cache"
        assert (hit.prompt_tokens, hit.completion_tokens) == (miss.prompt_tokens, miss.completion_tokens)
    samples = scrape(gateway.url)
    assert samples.value("gateway_tokens_total", tenant=tenant, model="mock-echo", kind="prompt") == miss.prompt_tokens


def test_a_hit_counts_as_a_request_but_takes_no_tokens(gateway: RunningGateway) -> None:
    """The policy the README states: rpm/rpd count every request the gateway answers, a hit
    included; token and dollar budgets are charged only for what a model produced."""
    tenant = gateway.create_tenant(limits={"rpm": 3})
    sdk = sdk_for(gateway, tenant)
    seen = []
    for _ in range(5):
        try:
            seen.append(ask(sdk, "the same question, five times", model="mock-echo")[0])
        except RateLimitError as exc:
            assert exc.body["code"] == "rpm_exceeded"          # type: ignore[index]
            seen.append("429")
    assert seen == ["miss", "hit", "hit", "429", "429"]
    records = gateway_records(gateway, tenant, at_least=5)
    billed = [r for r in records if r.status == "ok" and not r.cache_hit]
    assert len(billed) == 1 and sum(Decimal(r.cost_usd) for r in records) == Decimal(billed[0].cost_usd)


def test_cache_results_are_counted(gateway: RunningGateway) -> None:
    sdk = sdk_for(gateway)
    before = scrape(gateway.url)
    ask(sdk, "counted")
    ask(sdk, "counted")
    ask(sdk, "counted", cache_control="no-cache")
    deadline = time.monotonic() + 5
    after = scrape(gateway.url)
    while after.total_delta(before, "gateway_cache_requests_total", result="bypass") < 1 and time.monotonic() < deadline:
        after = scrape(gateway.url)
    assert [after.total_delta(before, "gateway_cache_requests_total", result=r) for r in ("miss", "hit", "bypass")] == [
        1, 1, 1]
