"""Moved to tests/support/redis_cluster.py (other suites start the same servers); this name
stays for the limiter suite's imports."""

from tests.support.redis_cluster import (
    RedisClusterNodes,
    RedisServer,
    free_cluster_port,
    require_redis_server,
)

__all__ = ["RedisClusterNodes", "RedisServer", "free_cluster_port", "require_redis_server"]
