"""Two `llm-gateway serve` processes on a real three-node Redis Cluster, as replicas run on
ElastiCache cluster mode: GATEWAY_REDIS_URL names one node and GATEWAY_REDIS_CLUSTER=true.
Everything shared goes through the cluster: rate limits hold across both, an answer one
got is a cache hit on the other, usage records reach PostgreSQL through the stream, a key
revoked through one is refused by the other (pub/sub), and a breaker one opens is open on
the other. Neither process logs a Redis error meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from redis.cluster import RedisCluster

from gateway.db import create_engine
from gateway.usage.tables import usage_records
from tests.conftest import unique
from tests.fakes.openai_upstream import Behavior, FakeOpenAI, FakeOpenAIServer
from tests.integration.tenancy.support import GatewayProcess, gateway_env, wait_for_status
from tests.support.redis_cluster import RedisClusterNodes

pytestmark = pytest.mark.timeout(240)

STREAM = f"gw:usage:test:{unique()}"
# What a process logs when it cannot use Redis; none of it may appear on a healthy cluster.
REDIS_TROUBLE = ("Traceback", "breaker state not shared", "usage drain paused", "Redis unavailable",
                 "change feed lost Redis", "not subscribed yet", "rate-limit store unreachable",
                 "cache store unreachable", "MOVED", "CROSSSLOT")


def catalog(primary_url: str, flaky_url: str) -> str:
    timeouts = "{connect: 2, first_byte: 5, idle: 5, total: 30}"
    return f"""
providers:
  primary: {{type: openai, base_url: "{primary_url}", api_key: sk-upstream-secret-primary, timeouts: {timeouts}}}
  flaky:   {{type: openai, base_url: "{flaky_url}", api_key: sk-upstream-secret-flaky, timeouts: {timeouts}}}
models:
  gpt-4o-mini:
    price: {{input: 0.15, output: 0.60}}
    deployments: [{{provider: primary, upstream: gpt-4o-mini}}]
  flaky-model:
    price: {{input: 0.15, output: 0.60}}
    deployments:
      - {{provider: flaky, upstream: flaky-model}}
      - {{provider: primary, upstream: flaky-model}}
tiers:
  free: {{rpm: 3}}
  pro:  {{rpm: 1000, tpm: 1000000}}
cache: {{mode: exact, ttl_seconds: 120, scope: tenant}}
routing:
  breaker: {{failure_rate: 0.5, min_requests: 4, window_seconds: 30, cooldown_seconds: 60, half_open_probes: 1,
            sync_seconds: 0.2}}
  retry: {{budget_ratio: 0}}
"""


@pytest.fixture(scope="module")
def cluster_upstreams() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    """Two fake upstreams for the module's long-lived replicas."""
    with FakeOpenAIServer() as primary, FakeOpenAIServer() as flaky:
        yield primary, flaky


@pytest.fixture(scope="module")
def replicas(cluster_upstreams: tuple[FakeOpenAI, FakeOpenAI], redis_cluster: RedisClusterNodes, postgres_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    directory = tmp_path_factory.mktemp("gateway-on-cluster")
    (directory / "gateway.yaml").write_text(catalog(cluster_upstreams[0].url, cluster_upstreams[1].url))
    # A 30 s key cache: only the published change can explain a revoke seen at once.
    env = gateway_env(postgres_url, directory, redis_url=redis_cluster.url, redis_cluster="true",
                      usage_stream_key=STREAM, key_cache_ttl_seconds="30", log_level="info")
    with GatewayProcess(env, directory) as first, GatewayProcess(env, directory) as second:
        yield first, second
    for replica in (first, second):        # their shutdown (drain, unsubscribe) too
        assert not [t for t in REDIS_TROUBLE if t in replica.output], replica.output[-5000:]


@pytest.fixture(autouse=True)
def clean_logs(replicas: tuple[GatewayProcess, GatewayProcess]) -> Iterator[None]:
    yield
    for replica in replicas:
        trouble = [t for t in REDIS_TROUBLE if t in replica.output]
        assert not trouble, replica.output[-5000:]


def new_key(replica: GatewayProcess, tier: str = "pro") -> tuple[str, str, str]:
    tenant = unique("cl")
    created = replica.admin("POST", "/admin/tenants", json={"name": tenant, "tier": tier, "models": ["*"]})
    assert created.status_code == 201, created.text
    issued = replica.admin("POST", f"/admin/tenants/{tenant}/keys", json={"label": "cluster"})
    assert issued.status_code == 201, issued.text
    return tenant, issued.json()["id"], issued.json()["key"]


def chat(replica: GatewayProcess, key: str, content: str, model: str = "gpt-4o-mini",
         **headers: str) -> httpx.Response:
    return httpx.post(replica.url + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}", **headers},
                      json={"model": model, "messages": [{"role": "user", "content": content}]})


def asked(upstream: FakeOpenAI, content: str) -> int:
    return sum(1 for seen in upstream.requests if seen.body.get("messages", [{}])[-1].get("content") == content)


def poll(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_both_replicas_are_ready_on_the_cluster(replicas: tuple[GatewayProcess, GatewayProcess]) -> None:
    for replica in replicas:
        ready = httpx.get(replica.url + "/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["redis"] == "ok"


def test_a_rate_limit_holds_across_both_replicas(replicas: tuple[GatewayProcess, GatewayProcess]) -> None:
    first, second = replicas
    _, _, key = new_key(first, tier="free")                  # 3 requests a minute
    answers = [chat(replica, key, f"limited {i} {unique()}") for i, replica in enumerate((first, second, first))]
    assert [a.status_code for a in answers] == [200, 200, 200]
    for replica in (second, first):
        refused = chat(replica, key, f"one too many {unique()}")
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
        error = refused.json()["error"]
        assert (error["type"], error["code"]) == ("rate_limit_error", "rpm_exceeded")


def test_an_answer_one_replica_got_is_a_cache_hit_on_the_other(
        replicas: tuple[GatewayProcess, GatewayProcess], cluster_upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    first, second = replicas
    primary, _ = cluster_upstreams
    _, _, key = new_key(first)
    question = f"cached across replicas {unique()}"
    miss = chat(first, key, question)
    assert miss.status_code == 200 and miss.headers["x-gateway-cache"] == "miss"
    hit = chat(second, key, question)
    assert hit.status_code == 200 and hit.headers["x-gateway-cache"] == "hit"
    assert hit.json()["choices"][0]["message"]["content"] == miss.json()["choices"][0]["message"]["content"]
    assert asked(primary, question) == 1


def test_usage_records_reach_postgres_through_the_stream(
        replicas: tuple[GatewayProcess, GatewayProcess], redis_cluster: RedisClusterNodes, postgres_url: str) -> None:
    first, second = replicas
    tenant, _, key = new_key(first)
    client_ids = [unique("req") for _ in range(6)]
    for i, request_id in enumerate(client_ids):
        answer = chat((first, second)[i % 2], key, f"usage {i} {unique()}", **{"x-request-id": request_id})
        assert answer.status_code == 200, answer.text

    def recorded() -> list[Any]:
        async def read() -> list[Any]:
            engine = create_engine(postgres_url)
            try:
                async with engine.connect() as conn:
                    query = sa.select(usage_records.c.client_request_id, usage_records.c.http_status,
                                      usage_records.c.prompt_tokens).where(usage_records.c.tenant == tenant)
                    return list((await conn.execute(query)).all())
            finally:
                await engine.dispose()
        return asyncio.run(read())

    assert poll(lambda: len(recorded()) == len(client_ids)), recorded()
    rows = recorded()
    assert sorted(r.client_request_id for r in rows) == sorted(client_ids)
    assert all(r.http_status == 200 and r.prompt_tokens > 0 for r in rows)
    cluster = RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0])
    try:
        assert poll(lambda: cluster.xlen(STREAM) == 0)     # written and acknowledged: gone from the stream
        consumers = cluster.xinfo_consumers(STREAM, "gateway-usage")
        assert len(consumers) >= 2                          # both replicas drain the one stream
    finally:
        cluster.close()


def test_a_key_revoked_through_one_replica_is_refused_by_the_other_at_once(
        replicas: tuple[GatewayProcess, GatewayProcess]) -> None:
    first, second = replicas
    _, key_id, key = new_key(first)
    assert chat(second, key, f"before the revoke {unique()}").status_code == 200   # cached by the other now
    revoked = first.admin("DELETE", f"/admin/keys/{key_id}")
    assert revoked.status_code == 200, revoked.text
    elapsed = wait_for_status(lambda: chat(second, key, f"after {unique()}"), 401, timeout=5, interval=0.01)
    assert elapsed < 2.0      # the key cache holds entries 30 s: only the published change explains this


def test_a_breaker_one_replica_opens_is_open_on_the_other(
        replicas: tuple[GatewayProcess, GatewayProcess], cluster_upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    first, second = replicas
    _, flaky = cluster_upstreams
    _, _, key = new_key(first)
    flaky.default = Behavior("status", 500)
    try:
        for i in range(4):                                    # min_requests failures, each falling back
            answer = chat(first, key, f"flaky {i} {unique()}", model="flaky-model", **{"Cache-Control": "no-store"})
            assert answer.status_code == 200 and answer.headers["x-gateway-provider"] == "primary"
        assert len(flaky.requests) == 4

        def flaky_state(replica: GatewayProcess) -> str:
            rows = replica.admin("GET", "/admin/providers").json()["data"]
            states = [r["state"] for r in rows if r["provider"] == "flaky" and r["model"] == "flaky-model"]
            assert len(states) == 1
            return str(states[0])

        assert flaky_state(first) == "open"
        assert poll(lambda: flaky_state(second) == "open", 5)
        answer = chat(second, key, f"after opening {unique()}", model="flaky-model")
        assert answer.status_code == 200 and answer.headers["x-gateway-provider"] == "primary"
        assert len(flaky.requests) == 4                        # the other replica never tried it
    finally:
        flaky.default = Behavior()
