"""One limiter suite, four stores: in process, fakeredis, real Redis, and a real three-node
Redis Cluster. `make_limiter(window_seconds=..., clock=...)` builds the store under test;
with a clock, every store measures time by it (deterministic windows and calendar days)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import RedisCluster
from redis.asyncio.cluster import ClusterNode

from gateway.limits.base import Limiter
from gateway.limits.factory import limiter_client
from gateway.limits.memory import MemoryLimiter
from gateway.limits.redis import RedisLimiter
from tests.conftest import IN_CI, REDIS_URL, require_redis
from tests.integration.limits.redis_servers import RedisClusterNodes

STORES = ["memory", "fakeredis", "redis", "cluster"]


class FakeClock:
    """Wall-clock seconds that move only when told."""

    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, when: datetime) -> None:
        self.now = when.timestamp()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 6, 10, 12, 0, 0, tzinfo=UTC))   # on a minute boundary


def cluster_client(cluster: RedisClusterNodes) -> RedisCluster:
    return RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", port) for port in cluster.ports],
                        max_connections=1000)


def _fakeredis_client() -> Any:
    try:
        import fakeredis
        import lupa  # noqa: F401  (fakeredis runs Lua through it)
    except ImportError:
        if IN_CI:
            pytest.fail("fakeredis[lua] is not installed, and CI=true")
        pytest.skip("fakeredis[lua] is not installed")
    return fakeredis.FakeAsyncRedis(max_connections=10_000)


MakeLimiter = Callable[..., Limiter]


@pytest.fixture(params=STORES)
async def make_limiter(request: pytest.FixtureRequest) -> AsyncIterator[MakeLimiter]:
    store: str = request.param
    clients: list[Any] = []
    if store == "redis":
        require_redis()
    cluster = request.getfixturevalue("redis_cluster") if store == "cluster" else None

    def make(window_seconds: float = 60.0, clock: Callable[[], float] | None = None) -> Limiter:
        if store == "memory":
            return MemoryLimiter(window_seconds, clock or time.time)
        if store == "fakeredis":
            client = _fakeredis_client()
        elif store == "redis":
            client = limiter_client(REDIS_URL)
        else:
            assert cluster is not None
            client = cluster_client(cluster)
        clients.append(client)
        return RedisLimiter(client, window_seconds=window_seconds, clock=clock)

    yield make
    for client in clients:
        await client.aclose()

