"""A real three-node Redis Cluster on loopback ports for the whole session (stopped at the
end), and clients of it built the way the gateway builds its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from gateway.redis_client import SHARED, Client, command_client
from tests.support.redis_cluster import RedisClusterNodes, require_redis_server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    require_redis_server()
    cluster = RedisClusterNodes(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def cluster_client(redis_cluster: RedisClusterNodes) -> AsyncIterator[Client]:
    client = command_client(redis_cluster.url, cluster=True, options=SHARED)
    yield client
    await client.aclose()
