"""A real three-node Redis Cluster on loopback ports for the whole session (stopped at the
end), and clients of it built the way the gateway builds its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.redis_client import SHARED, Client, command_client
from tests.support.redis_cluster import RedisClusterNodes


@pytest.fixture
async def cluster_client(redis_cluster: RedisClusterNodes) -> AsyncIterator[Client]:
    client = command_client(redis_cluster.url, cluster=True, options=SHARED)
    yield client
    await client.aclose()
