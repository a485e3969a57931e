"""Limits hold exactly across replicas: three `llm-gateway serve` processes on one Redis and
one PostgreSQL, 300 concurrent requests spread over them for a tenant allowed 100 a
minute -> exactly 100 answered, exactly 200 refused with 429."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.conftest import unique
from tests.integration.tenancy.support import GatewayProcess, gateway_env

pytestmark = pytest.mark.timeout(240)

REPLICAS = 3
REQUESTS = 300


@pytest.fixture
def replicas(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[list[GatewayProcess]]:
    env = gateway_env(postgres_url, tmp_path, redis_url=redis_url, log_level="warning")
    with ExitStack() as stack:
        yield [stack.enter_context(GatewayProcess(env, tmp_path)) for _ in range(REPLICAS)]


async def fire(urls: list[str], key: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        calls = [client.post(urls[i % len(urls)] + "/v1/chat/completions",
                             headers={"Authorization": f"Bearer {key}"},
                             json={"model": "mock-echo", "max_tokens": 16,
                                   "messages": [{"role": "user", "content": f"request {i}"}]})
                 for i in range(REQUESTS)]
        return list(await asyncio.wait_for(asyncio.gather(*calls), timeout=120))


def rejections(url: str, tenant: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    pattern = rf'^gateway_ratelimit_rejections_total\{{[^}}]*tenant="{tenant}"[^}}]*\}} ([0-9.e+]+)$'
    return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.M))


def test_three_replicas_admit_exactly_the_limit(replicas: list[GatewayProcess]) -> None:
    tenant = unique("rpm")
    created = replicas[0].admin("POST", "/admin/tenants",
                                json={"name": tenant, "tier": "pro", "models": ["*"], "limits": {"rpm": 100}})
    assert created.status_code == 201, created.text
    issued = replicas[0].admin("POST", f"/admin/tenants/{tenant}/keys", json={"label": "replicas"})
    assert issued.status_code == 201, issued.text
    key = issued.json()["key"]

    responses = asyncio.run(fire([r.url for r in replicas], key))

    statuses = [r.status_code for r in responses]
    assert not [r.url for r in replicas if "rate-limit store unreachable" in r.output]   # no replica failed open
    assert statuses.count(200) == 100, ({s: statuses.count(s) for s in set(statuses)},
                                        [r.text for r in responses if r.status_code not in (200, 429)][:3],
                                        [r.output[-3000:] for r in replicas])
    assert statuses.count(429) == 200
    for response in responses:
        assert response.headers["x-ratelimit-limit-requests"] == "100"
        if response.status_code == 429:
            error = response.json()["error"]
            assert error["type"] == "rate_limit_error" and error["code"] == "rpm_exceeded"
            assert "(rpm)" in error["message"]
            assert 1 <= int(response.headers["Retry-After"]) <= 60
            assert response.headers["x-ratelimit-remaining-requests"] == "0"
    remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in responses if r.status_code == 200)
    assert remaining == list(range(100))              # each admission saw every other replica's
    assert sum(rejections(r.url, tenant) for r in replicas) == 200
