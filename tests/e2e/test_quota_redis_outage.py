"""Redis stopped mid-test, under a running gateway (a redis-server of the test's own, on a
free port): fail_open keeps answering with this process's own limits, fail_closed answers
503; both go back to the shared limits by themselves once Redis returns."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest
import redis

from gateway.limits.plan import scope_prefix
from gateway.telemetry import metrics
from tests.conftest import make_settings, unique
from tests.integration.limits.redis_servers import RedisServer
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

pytestmark = pytest.mark.timeout(180)

CATALOG = """
providers:
  mock: {type: mock}
models:
  mock-echo:
    price: {input: 0.15, output: 0.60}
    deployments: [{provider: mock, upstream: echo}]
tiers:
  pro: {}
cache: {mode: "off"}
"""


@pytest.fixture
def redis_server(private_redis: RedisServer) -> RedisServer:
    return private_redis


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_catalog(tmp_path, CATALOG)


def chat(gw: RunningGateway, key: str) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                      json={"model": "mock-echo", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})


def shared_requests(server: RedisServer, tenant: str) -> int:
    client = redis.Redis.from_url(server.url)
    try:
        return int(client.zcard(scope_prefix(tenant) + "rpm"))
    finally:
        client.close()


def degraded() -> float:
    return metrics.RATELIMIT_DEGRADED._value.get()  # type: ignore[attr-defined, no-any-return]


def wait_until_shared_again(gw: RunningGateway, key: str, server: RedisServer, tenant: str) -> float:
    """Requests until one is counted in the restarted Redis; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < 15:
        response = chat(gw, key)
        assert response.status_code in (200, 429, 503), response.text
        if response.status_code == 200 and shared_requests(server, tenant) > 0:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError("the gateway did not go back to Redis within 15 s")


def test_fail_open_serves_with_local_limits_and_recovers(
        redis_server: RedisServer, sqlite_url: str, config: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(sqlite_url, config, redis_url=redis_server.url, ratelimit_failure_mode="fail_open")
    with running_gateway(settings) as gw:
        tenant = gw.create_tenant(unique("open"), limits={"rpm": 3})
        key = gw.create_key(tenant)
        assert [chat(gw, key).status_code for _ in range(2)] == [200, 200]
        assert shared_requests(redis_server, tenant) == 2

        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="gateway.limits"):
            during = [chat(gw, key) for _ in range(4)]
        # this process alone now: its own window, the full limit, fresh
        assert [r.status_code for r in during] == [200, 200, 200, 429], [r.text for r in during]
        assert during[3].json()["error"]["code"] == "rpm_exceeded"
        assert during[0].headers["x-ratelimit-limit-requests"] == "3"
        assert degraded() == 1
        assert any("rate-limit store unreachable" in r.getMessage() and "fail_open" in r.getMessage()
                   for r in caplog.records)

        redis_server.start()                               # same port, empty
        took = wait_until_shared_again(gw, key, redis_server, tenant)
        print(f"\nshared limits resumed {took:.2f}s after Redis returned")
        assert degraded() == 0
        assert shared_requests(redis_server, tenant) == 1


def test_fail_closed_answers_503_and_recovers(redis_server: RedisServer, sqlite_url: str, config: Path) -> None:
    settings = make_settings(sqlite_url, config, redis_url=redis_server.url, ratelimit_failure_mode="fail_closed")
    with running_gateway(settings) as gw:
        tenant = gw.create_tenant(unique("closed"), limits={"rpm": 100})
        key = gw.create_key(tenant)
        assert chat(gw, key).status_code == 200

        redis_server.stop()
        during = [chat(gw, key) for _ in range(3)]
        assert [r.status_code for r in during] == [503, 503, 503]
        error = during[0].json()["error"]
        assert error["type"] == "service_unavailable" and error["code"] == "ratelimit_unavailable"
        assert set(error) == {"message", "type", "param", "code"}
        assert during[0].headers["Retry-After"] == "1"
        assert degraded() == 1

        redis_server.start()
        took = wait_until_shared_again(gw, key, redis_server, tenant)
        print(f"\nrequests admitted again {took:.2f}s after Redis returned")
        assert degraded() == 0
