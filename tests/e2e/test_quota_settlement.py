"""Reservations through the whole gateway, on real Redis and PostgreSQL with fake OpenAI
upstreams: what is reserved before the call, what the charge stage settles after it
(actual usage, nothing on failure, once across a fallback, what was produced when the
client leaves), budgets under concurrency, and the answers a client sees."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis

from gateway.catalog import Price
from gateway.limits.plan import day_period, micro_usd, month_period, scope_prefix, to_ms
from gateway.telemetry import metrics
from providers.tokens import estimate_prompt_tokens
from tests.conftest import make_settings, unique
from tests.fakes.openai_upstream import Behavior, FakeOpenAI
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

pytestmark = pytest.mark.timeout(180)

PRICE = Price(input=Decimal("0.15"), output=Decimal("0.60"))
LIMITS = {"rpm": 1000, "tpm": 1_000_000, "daily_tokens": 10_000_000, "monthly_usd": 100}


def catalog(primary: str, secondary: str) -> str:
    timeouts = "timeouts: {connect: 2, first_byte: 5, idle: 5, total: 30}"
    return f"""
providers:
  primary:   {{type: openai, base_url: "{primary}", api_key: sk-upstream-primary, {timeouts}}}
  secondary: {{type: openai, base_url: "{secondary}", api_key: sk-upstream-secondary, {timeouts}}}
models:
  gpt-4o-mini:
    price: {{input: 0.15, output: 0.60}}
    deployments:
      - {{provider: primary, upstream: gpt-4o-mini}}
      - {{provider: secondary, upstream: gpt-4o-mini}}
tiers:
  pro: {{}}
cache: {{mode: "off"}}
"""


@pytest.fixture
def gateway(upstreams: tuple[FakeOpenAI, FakeOpenAI], postgres_url: str, redis_url: str,
            tmp_path: Path) -> Iterator[RunningGateway]:
    config = write_catalog(tmp_path, catalog(upstreams[0].url, upstreams[1].url))
    with running_gateway(make_settings(postgres_url, config, redis_url=redis_url)) as gw:
        yield gw


class Counters:
    """What Redis holds for one tenant right now."""

    def __init__(self, redis_url: str, tenant: str) -> None:
        now = to_ms(time.time())
        self.tenant = tenant
        self.prefix = scope_prefix(tenant)
        self.day, self.month = day_period(now)[0], month_period(now)[0]
        self.client = redis.Redis.from_url(redis_url)

    def _int(self, value: Any) -> int:
        return int(value) if value is not None else 0

    @property
    def daily_tokens(self) -> int:
        return self._int(self.client.get(f"{self.prefix}tokens:{self.day}"))

    @property
    def tpm_tokens(self) -> int:
        return self._int(self.client.hget(f"{self.prefix}tpm:n", "_sum"))

    @property
    def micro_usd(self) -> int:
        return self._int(self.client.get(f"{self.prefix}usd:{self.month}"))

    @property
    def requests(self) -> int:
        return int(self.client.zcard(f"{self.prefix}rpm"))

    @property
    def open_reservations(self) -> int:
        return sum(1 for _ in self.client.scan_iter(match=f"{self.prefix}res:*"))


def new_tenant(gw: RunningGateway, **limits: Any) -> tuple[str, str]:
    tenant = unique("q")
    gw.create_tenant(tenant, tier="pro", limits={**LIMITS, **limits})
    return tenant, gw.create_key(tenant)


def chat(gw: RunningGateway, key: str, content: str = "hello there", max_tokens: int = 200,
         **extra: Any) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=60,
                      json={"model": "gpt-4o-mini", "max_tokens": max_tokens,
                            "messages": [{"role": "user", "content": content}], **extra})


def reserved_tokens(content: str, max_tokens: int) -> int:
    return estimate_prompt_tokens([{"role": "user", "content": content}]) + max_tokens


def echo_usage(content: str) -> tuple[int, int]:
    """The fake upstream's usage for an echo of `content`: 11 prompt tokens, one per word."""
    return 11, len(f"echo: {content}".split())


def test_usage_below_the_reservation_returns_the_difference(gateway: RunningGateway, redis_url: str) -> None:
    tenant, key = new_tenant(gateway)
    counters = Counters(redis_url, tenant)
    response = chat(gateway, key)
    assert response.status_code == 200, response.text
    prompt, completion = echo_usage("hello there")
    assert prompt + completion < reserved_tokens("hello there", 200)
    assert counters.daily_tokens == counters.tpm_tokens == prompt + completion
    assert counters.micro_usd == micro_usd(PRICE.cost(prompt, completion))
    assert counters.requests == 1 and counters.open_reservations == 0


def test_an_upstream_failure_returns_everything(gateway: RunningGateway, redis_url: str,
                                                upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    for fake in upstreams:
        fake.default = Behavior("status", 500)
    tenant, key = new_tenant(gateway)
    counters = Counters(redis_url, tenant)
    response = chat(gateway, key)
    assert response.status_code in (502, 503), response.text
    assert counters.daily_tokens == counters.tpm_tokens == counters.micro_usd == 0
    assert counters.requests == 1 and counters.open_reservations == 0    # the request itself counts


def test_a_fallback_charges_once(gateway: RunningGateway, redis_url: str,
                                 upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    primary, secondary = upstreams
    primary.default = Behavior("status", 503)
    tenant, key = new_tenant(gateway)
    counters = Counters(redis_url, tenant)
    response = chat(gateway, key)
    assert response.status_code == 200 and response.headers["x-gateway-provider"] == "secondary"
    assert len(primary.requests) >= 1 and len(secondary.requests) == 1
    prompt, completion = echo_usage("hello there")
    assert counters.daily_tokens == counters.tpm_tokens == prompt + completion
    assert counters.micro_usd == micro_usd(PRICE.cost(prompt, completion))
    assert counters.open_reservations == 0


def test_a_client_that_leaves_mid_stream_is_charged_what_was_produced(
        gateway: RunningGateway, redis_url: str, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    upstreams[0].default = Behavior("slow_stream", chunk_delay=0.3)
    tenant, key = new_tenant(gateway)
    counters = Counters(redis_url, tenant)
    content = "one two three four five six seven eight nine ten"
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": "gpt-4o-mini", "max_tokens": 500, "stream": True,
                            "messages": [{"role": "user", "content": content}]}, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit-tokens"] == str(LIMITS["tpm"])
        lines = response.iter_lines()
        next(lines)                                   # the first chunk; then the client goes away
    deadline = time.monotonic() + 15
    while counters.open_reservations and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counters.open_reservations == 0
    assert 0 < counters.daily_tokens < reserved_tokens(content, 500)
    assert counters.daily_tokens == counters.tpm_tokens


def test_a_budget_under_concurrency_admits_what_fits_and_is_never_overspent(
        gateway: RunningGateway, redis_url: str, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    content, max_tokens = "budget test", 100
    prompt_estimate = estimate_prompt_tokens([{"role": "user", "content": content}])
    per_request = micro_usd(PRICE.cost(prompt_estimate, max_tokens))
    budget = Decimal(10 * per_request) / 1_000_000          # fits ten reservations exactly
    # Slow answers: all fifty reserve before the first settles and gives back its difference.
    upstreams[0].default = Behavior(delay=2.0)
    tenant, key = new_tenant(gateway, monthly_usd=float(budget))
    counters = Counters(redis_url, tenant)

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=50)) as client:
            calls = [client.post(gateway.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                                 json={"model": "gpt-4o-mini", "max_tokens": max_tokens,
                                       "messages": [{"role": "user", "content": content}]}) for _ in range(50)]
            return list(await asyncio.wait_for(asyncio.gather(*calls), timeout=90))

    responses = asyncio.run(fire())
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 10 and statuses.count(429) == 40, statuses
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 429} == {"monthly_usd_exceeded"}

    prompt, completion = echo_usage(content)
    answered = [r.json()["usage"] for r in responses if r.status_code == 200]
    spent = sum(PRICE.cost(u["prompt_tokens"], u["completion_tokens"]) for u in answered)
    assert spent == 10 * PRICE.cost(prompt, completion) <= budget
    # what the limiter holds as settled: each answer's cost in whole micro-dollars
    assert counters.micro_usd == 10 * micro_usd(PRICE.cost(prompt, completion)) <= 10 * per_request
    assert counters.open_reservations == 0


def test_every_answer_carries_the_rate_limit_headers(gateway: RunningGateway) -> None:
    _, key = new_tenant(gateway, rpm=5, tpm=10_000)
    first = chat(gateway, key, max_tokens=100)
    streamed = chat(gateway, key, max_tokens=100, stream=True)
    for response, left in ((first, "4"), (streamed, "3")):
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit-requests"] == "5"
        assert response.headers["x-ratelimit-remaining-requests"] == left
        assert response.headers["x-ratelimit-reset-requests"].endswith("s")
        assert response.headers["x-ratelimit-limit-tokens"] == "10000"
        assert int(response.headers["x-ratelimit-remaining-tokens"]) < 10_000


def test_a_429_is_what_the_openai_sdk_expects(gateway: RunningGateway) -> None:
    tenant, key = new_tenant(gateway, rpm=1)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    messages: Any = [{"role": "user", "content": "hi"}]
    client.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=20)
    before = metrics.RATELIMIT_REJECTIONS.labels(tenant, "rpm")._value.get()
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=20)
    error = caught.value
    assert error.code == "rpm_exceeded"
    assert "requests per minute (rpm)" in error.message and tenant in error.message
    assert 55 <= int(error.response.headers["retry-after"]) <= 60
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert metrics.RATELIMIT_REJECTIONS.labels(tenant, "rpm")._value.get() == before + 1


def test_a_request_that_can_never_fit_is_a_400_naming_the_limit(gateway: RunningGateway) -> None:
    """A 429 would tell the SDK to retry, after a Retry-After of hours, a request that no
    window can ever hold: that is the client's mistake, named, and nothing is reserved."""
    tenant = gateway.create_tenant(limits={"rpm": 1000, "tpm": 1_000_000, "daily_tokens": 5000, "monthly_usd": 100})
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=gateway.create_key(tenant), max_retries=0)
    for max_tokens, code in ((6000, "exceeds_daily_tokens"), (2**53, "exceeds_tpm")):
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                        max_tokens=max_tokens)
        assert refused.value.body["code"] == code and refused.value.body["param"] == "max_tokens"  # type: ignore[index]
        assert code.removeprefix("exceeds_") + " limit of" in refused.value.body["message"]       # type: ignore[index]
    fits = sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=50)
    assert fits.choices[0].message.content
